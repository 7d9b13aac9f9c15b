// Liveness, version and the loaded models: what clients probe before
// anything else. The text of `/` is Ollama's, byte for byte, because tools
// check for it.
#include <algorithm>

#include "server/model_pool.h"
#include "server/routes.h"
#include "server/time_format.h"

namespace kiln::server {
namespace {

// Ollama turns a negative keep_alive into the largest Go Duration, so its
// "forever" expiry is now + 292 years. A system_clock in nanoseconds ends in
// 2262; that latest time it can hold says the same to clients (`ollama ps`
// prints "Forever" for anything over 20 years away).
Clock::time_point forever_from(Clock::time_point) { return Clock::time_point::max(); }

std::string hex_digest(const std::string& digest) {
  const std::string prefix = "sha256:";
  return digest.starts_with(prefix) ? digest.substr(prefix.size()) : digest;
}

// Ollama's api.ProcessModelResponse list, latest expiry first (its PsHandler
// sorts so).
nlohmann::ordered_json ps_json(const ModelPool* pool) {
  nlohmann::ordered_json models = nlohmann::ordered_json::array();
  if (!pool) return nlohmann::ordered_json{{"models", models}};
  std::vector<PsEntry> entries = pool->ps();
  const Clock::time_point now = Clock::now();
  auto expiry = [&](const PsEntry& e) { return e.expires_at.value_or(forever_from(now)); };
  std::stable_sort(entries.begin(), entries.end(),
                   [&](const PsEntry& a, const PsEntry& b) { return expiry(a) > expiry(b); });
  for (const PsEntry& e : entries) {
    nlohmann::ordered_json m;
    m["name"] = e.name;
    m["model"] = e.name;
    m["size"] = e.size_bytes;
    m["digest"] = hex_digest(e.digest);  // as /api/tags writes it
    m["details"] = e.details;
    m["expires_at"] = rfc3339(expiry(e));
    m["size_vram"] = e.size_vram;
    m["context_length"] = e.context_length;
    models.push_back(std::move(m));
  }
  return nlohmann::ordered_json{{"models", std::move(models)}};
}

}  // namespace

void add_info_routes(Router& r, ApiState& state) {
  auto running = [](Call& c) {
    c.res.status = 200;
    c.res.set_content("Ollama is running", "text/plain; charset=utf-8");
  };
  r.add("GET", "/", BodyMode::None, running);
  r.add("HEAD", "/", BodyMode::None, running);

  auto version = [&state](Call& c) { c.json(200, nlohmann::ordered_json{{"version", state.version}}); };
  r.add("GET", "/api/version", BodyMode::None, version);
  r.add("HEAD", "/api/version", BodyMode::None, version);

  r.add("GET", "/api/ps", BodyMode::None, [&state](Call& c) { c.json(200, ps_json(state.models.get())); });
}

}  // namespace kiln::server
