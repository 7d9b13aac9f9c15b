#pragma once
// How `kiln pull` shows progress, as Ollama's CLI does. On a terminal, the
// current step is one line redrawn in place (at most ~10 times a second):
//   pulling 6a0746a1ec1a:  45% ▕███████         ▏ 120 MB/253 MB   40 MB/s     5s
// and each finished step stays on screen (a blob at 100% shows its size).
// Elsewhere (a log, a pipe) each step is printed once, as a plain line.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "store/pull.h"

namespace kiln::store {

// One progress line: status, percent, bar, sizes, speed and time left.
// bytes_per_second <= 0 leaves speed and time left out (not known yet);
// completed >= total shows the finished form (100%, full bar, total size).
std::string format_progress_line(std::string_view status, uint64_t completed, uint64_t total,
                                 double bytes_per_second, int bar_width = 25);

// Go's time.Duration.String() of whole seconds: "5s", "1m5s", "2h0m1s".
std::string format_eta(double seconds);

class PullRenderer {
 public:
  using Clock = std::chrono::steady_clock;
  using Writer = std::function<void(std::string_view)>;

  PullRenderer(Writer out, bool terminal, int bar_width = 25);

  void update(const PullUpdate& u) { update(u, Clock::now()); }
  void update(const PullUpdate& u, Clock::time_point now);
  // Ends the current line (call after success or failure).
  void finish();

 private:
  struct Sample {
    Clock::time_point t;
    uint64_t completed;
  };
  void redraw(Clock::time_point now, bool force);
  double rate() const;

  Writer out_;
  bool terminal_;
  int bar_width_;
  std::string status_;  // the step on the current line
  uint64_t total_ = 0, completed_ = 0;
  bool line_open_ = false;
  Clock::time_point last_draw_{};
  std::deque<Sample> samples_;  // the last few seconds of this step, for the speed
};

}  // namespace kiln::store
