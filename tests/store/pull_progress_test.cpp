// The pull progress display: the bar line of the brief's example, Go's
// duration format for the time left, and what a terminal and a log get.
#include <gtest/gtest.h>

#include "store/pull_progress.h"

namespace kiln::store {
namespace {

TEST(PullProgress, LineInProgress) {
  // 120 MB of 253 MB at 40 MB/s: 45%, 133 MB left -> 3.3 s -> "3s".
  const std::string line = format_progress_line("pulling 6a0746a1ec1a", 120'000'000, 253'000'000, 40e6, 10);
  EXPECT_EQ(line.rfind("pulling 6a0746a1ec1a:  47% \u2595", 0), 0u) << line;
  EXPECT_NE(line.find("\u2595\u2588\u2588\u2588\u2588      \u258f"), std::string::npos) << line;
  EXPECT_NE(line.find("120 MB/253 MB"), std::string::npos) << line;
  EXPECT_NE(line.find("40 MB/s"), std::string::npos) << line;
  EXPECT_EQ(line.substr(line.size() - 2), "3s") << line;
}

TEST(PullProgress, FinishedAndUnknownSizes) {
  const std::string done = format_progress_line("pulling abc", 253'000'000, 253'000'000, 40e6, 4);
  EXPECT_EQ(done, "pulling abc: 100% \u2595\u2588\u2588\u2588\u2588\u258f 253 MB");
  EXPECT_EQ(format_progress_line("pulling x.gguf", 5'000'000, 0, 1e6), "pulling x.gguf: 5 MB  1 MB/s");
  EXPECT_EQ(format_progress_line("pulling manifest", 0, 0, 0), "pulling manifest");
  // No speed yet: no speed and no time left.
  const std::string early = format_progress_line("pulling abc", 1'000'000, 10'000'000, 0, 4);
  EXPECT_EQ(early, "pulling abc:  10% \u2595    \u258f 1 MB/10 MB");
}

TEST(PullProgress, EtaIsGoDurationFormat) {
  EXPECT_EQ(format_eta(0.4), "0s");
  EXPECT_EQ(format_eta(5), "5s");
  EXPECT_EQ(format_eta(65), "1m5s");
  EXPECT_EQ(format_eta(3601), "1h0m1s");
}

TEST(PullProgress, PlainLinesWhenNotATerminal) {
  std::string out;
  PullRenderer r([&](std::string_view s) { out += s; }, false);
  auto t = PullRenderer::Clock::now();
  r.update({"pulling manifest", "", 0, 0}, t);
  r.update({"pulling 0123456789ab", "sha256:x", 2'000'000, 0}, t);
  r.update({"pulling 0123456789ab", "sha256:x", 2'000'000, 1'000'000}, t);
  r.update({"pulling 0123456789ab", "sha256:x", 2'000'000, 2'000'000}, t);
  r.update({"success", "", 0, 0}, t);
  r.finish();
  EXPECT_EQ(out, "pulling manifest\npulling 0123456789ab (2 MB)\nsuccess\n");
}

TEST(PullProgress, TerminalRedrawsOneLinePerStep) {
  std::string out;
  PullRenderer r([&](std::string_view s) { out += s; }, true, 4);
  auto t = PullRenderer::Clock::now();
  r.update({"pulling manifest", "", 0, 0}, t);
  r.update({"pulling abc", "sha256:x", 4'000'000, 0}, t);
  r.update({"pulling abc", "sha256:x", 4'000'000, 1'000'000}, t + std::chrono::milliseconds(10));  // throttled
  r.update({"pulling abc", "sha256:x", 4'000'000, 2'000'000}, t + std::chrono::seconds(1));
  r.update({"pulling abc", "sha256:x", 4'000'000, 4'000'000}, t + std::chrono::seconds(2));
  r.update({"success", "", 0, 0}, t + std::chrono::seconds(2));
  r.finish();
  // 2 MB in the first second: 2 MB/s, 2 MB left -> 1s.
  EXPECT_NE(out.find("\r\033[Kpulling abc:  50% \u2595\u2588\u2588  \u258f 2 MB/4 MB      2 MB/s      1s"), std::string::npos)
      << out;
  EXPECT_EQ(out.find("1 MB/4 MB"), std::string::npos) << out;  // the 10 ms update was not drawn
  EXPECT_NE(out.find("pulling abc: 100% \u2595\u2588\u2588\u2588\u2588\u258f 4 MB\n"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 8), "success\n") << out;
}

}  // namespace
}  // namespace kiln::store
