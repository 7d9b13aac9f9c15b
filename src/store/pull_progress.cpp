#include "store/pull_progress.h"

#include <cmath>
#include <cstdio>

#include "store/humanize.h"

namespace kiln::store {
namespace {

constexpr auto kRedrawEvery = std::chrono::milliseconds(100);
constexpr auto kRateWindow = std::chrono::seconds(5);

std::string pad_left(std::string s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

}  // namespace

std::string format_eta(double seconds) {
  long s = seconds < 0 ? 0 : std::lround(seconds);
  const long h = s / 3600, m = (s % 3600) / 60;
  s %= 60;
  if (h > 0) return std::to_string(h) + "h" + std::to_string(m) + "m" + std::to_string(s) + "s";
  if (m > 0) return std::to_string(m) + "m" + std::to_string(s) + "s";
  return std::to_string(s) + "s";
}

std::string format_progress_line(std::string_view status, uint64_t completed, uint64_t total,
                                 double bytes_per_second, int bar_width) {
  std::string line(status);
  if (total == 0) {
    // Size unknown (a server that sends no length): bytes so far and speed only.
    if (completed > 0) line += ": " + human_bytes(completed);
    if (completed > 0 && bytes_per_second > 0) line += "  " + human_bytes(static_cast<uint64_t>(bytes_per_second)) + "/s";
    return line;
  }
  const bool done = completed >= total;
  const double frac = done ? 1.0 : static_cast<double>(completed) / static_cast<double>(total);
  const int percent = done ? 100 : std::min(99, static_cast<int>(frac * 100));
  char pct[16];
  std::snprintf(pct, sizeof pct, "%3d%%", percent);
  line += ": ";
  line += pct;
  line += " \u2595";  // ▕
  const int filled = static_cast<int>(frac * bar_width);
  for (int i = 0; i < bar_width; ++i) line += i < filled ? "\u2588" : " ";  // █
  line += "\u258f ";  // ▏
  if (done) return line + human_bytes(total);
  line += human_bytes(completed) + "/" + human_bytes(total);
  if (bytes_per_second > 0) {
    line += pad_left(human_bytes(static_cast<uint64_t>(bytes_per_second)) + "/s", 12);
    line += pad_left(format_eta(static_cast<double>(total - completed) / bytes_per_second), 8);
  }
  return line;
}

PullRenderer::PullRenderer(Writer out, bool terminal, int bar_width)
    : out_(std::move(out)), terminal_(terminal), bar_width_(bar_width) {}

double PullRenderer::rate() const {
  if (samples_.size() < 2) return 0;
  const double dt = std::chrono::duration<double>(samples_.back().t - samples_.front().t).count();
  if (dt < 0.5) return 0;  // too little time to say anything useful
  return static_cast<double>(samples_.back().completed - samples_.front().completed) / dt;
}

void PullRenderer::redraw(Clock::time_point now, bool force) {
  if (!force && now - last_draw_ < kRedrawEvery) return;
  last_draw_ = now;
  out_("\r\033[K" + format_progress_line(status_, completed_, total_, rate(), bar_width_));
  line_open_ = true;
}

void PullRenderer::update(const PullUpdate& u, Clock::time_point now) {
  const bool new_step = u.status != status_;
  if (new_step) {
    if (terminal_ && line_open_) {
      redraw(now, true);  // the finished step's final state stays on screen
      out_("\n");
      line_open_ = false;
    }
    status_ = u.status;
    samples_.clear();
    if (!terminal_) out_(u.status + (u.total ? " (" + human_bytes(u.total) + ")" : "") + "\n");
  }
  total_ = u.total;
  completed_ = u.completed;
  if (!samples_.empty() && u.completed < samples_.back().completed) samples_.clear();  // restarted
  samples_.push_back({now, u.completed});
  while (samples_.size() > 2 && now - samples_.front().t > kRateWindow) samples_.pop_front();
  if (terminal_) redraw(now, new_step || (total_ && completed_ >= total_));
}

void PullRenderer::finish() {
  if (terminal_ && line_open_) {
    redraw(Clock::now(), true);
    out_("\n");
    line_open_ = false;
  }
}

}  // namespace kiln::store
