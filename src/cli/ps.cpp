// `kiln ps`: the models a running server has loaded (GET /api/ps), in
// Ollama's columns: NAME, ID, SIZE, PROCESSOR, CONTEXT, UNTIL.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "cli/commands.h"
#include "client/api_client.h"
#include "core/error.h"
#include "store/humanize.h"

namespace kiln::cli {
namespace {

// Seconds from now until an RFC 3339 time ("2026-01-02T15:04:05.5+01:00");
// NaN when it cannot be read.
double seconds_until(const std::string& text) {
  std::tm tm{};
  const char* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return NAN;
  while (*rest == '.' || (*rest >= '0' && *rest <= '9')) ++rest;  // fraction: below the resolution shown
  long offset = 0;
  if (*rest == '+' || *rest == '-') {
    int h = 0, m = 0;
    if (std::sscanf(rest + 1, "%d:%d", &h, &m) != 2) return NAN;
    offset = (h * 3600L + m * 60L) * (*rest == '-' ? -1 : 1);
  } else if (*rest != 'Z') {
    return NAN;
  }
  const std::time_t utc = ::timegm(&tm) - offset;
  return std::difftime(utc, std::time(nullptr));
}

// Ollama's format.HumanTime for a time ahead ("4 minutes from now"), with
// "Forever" past 20 years and "Stopping..." once it has passed.
std::string until_text(double s) {
  if (std::isnan(s)) return "";
  if (s <= 0) return "Stopping...";
  if (s / 3600 / 24 / 365 > 20) return "Forever";
  // human_time_ago words a duration as Ollama's humanDuration does.
  std::string ago = store::human_time_ago(s);
  const std::string suffix = " ago";
  if (ago.ends_with(suffix)) ago.erase(ago.size() - suffix.size());
  return ago + " from now";
}

std::string processor(uint64_t size, uint64_t vram) {
  if (vram == 0) return "100% CPU";
  if (vram >= size) return "100% GPU";
  const int gpu = int(std::lround(100.0 * double(vram) / double(size)));
  return std::to_string(100 - gpu) + "%/" + std::to_string(gpu) + "% CPU/GPU";
}

void run_ps() {
  client::ApiClient api = client::ApiClient::from_env();
  nlohmann::json answer;
  try {
    answer = api.get("/api/ps");
  } catch (const client::Unreachable& e) {
    throw Error(e.what());
  }
  std::vector<std::vector<std::string>> rows = {{"NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"}};
  for (const auto& m : answer.value("models", nlohmann::json::array())) {
    const uint64_t size = m.value("size", uint64_t(0)), vram = m.value("size_vram", uint64_t(0));
    const std::string digest = m.value("digest", "");
    rows.push_back({m.value("name", ""), digest.substr(0, 12), store::human_bytes(size), processor(size, vram),
                    std::to_string(m.value("context_length", 0)), until_text(seconds_until(m.value("expires_at", "")))});
  }
  std::fputs(store::columns(rows).c_str(), stdout);
}

}  // namespace

void add_ps(CLI::App& app) {
  auto* cmd = app.add_subcommand("ps", "List running models (asks the server at KILN_HOST)");
  cmd->callback(run_ps);
}

}  // namespace kiln::cli
