// Stop strings across token boundaries: held-back prefixes, matches spanning
// pieces or starting mid-piece, overlapping stop strings, UTF-8, and a
// property test (any way of cutting the text into pieces gives the same
// output as scanning the whole text).
#include "engine/stop.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace kiln::engine {
namespace {

struct Outcome {
  std::string text;
  bool stopped = false;
  std::string matched;
};

Outcome run(StopMatcher& m, const std::vector<std::string>& pieces) {
  Outcome o;
  for (const auto& piece : pieces) {
    const auto r = m.feed(piece);
    o.text += r.text;
    if (r.stopped) {
      o.stopped = true;
      o.matched = std::string(m.matched());
      return o;
    }
  }
  o.text += m.flush();
  return o;
}

Outcome run(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopMatcher m(stops);
  return run(m, pieces);
}

// The specification, on the whole text at once: the first byte where a stop
// string ends; the longest one ending there is cut.
Outcome reference(const std::vector<std::string>& stops, const std::string& text) {
  for (size_t end = 1; end <= text.size(); ++end) {
    const std::string* best = nullptr;
    for (const auto& s : stops)
      if (!s.empty() && s.size() <= end && text.compare(end - s.size(), s.size(), s) == 0 &&
          (!best || s.size() > best->size()))
        best = &s;
    if (best) return {text.substr(0, end - best->size()), true, *best};
  }
  return {text, false, ""};
}

TEST(StopMatcher, StopStringSpanningPieces) {
  StopMatcher m({"</s>"});
  auto r = m.feed("Hello");
  EXPECT_EQ(r.text, "Hello");
  r = m.feed(" world</");
  EXPECT_EQ(r.text, " world");  // "</" could begin the stop string
  EXPECT_EQ(m.held(), "</");
  r = m.feed("s>ignored");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(m.matched(), "</s>");
  EXPECT_TRUE(m.feed("more").stopped);
  EXPECT_EQ(m.feed("more").text, "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, StopStringStartingMidPiece) {
  const auto o = run({"User:"}, {"Sure.\nUs", "er", ": next"});
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(o.text, "Sure.\n");
}

TEST(StopMatcher, StopStringInsideOnePiece) {
  const auto o = run({"###"}, {"abc###def"});
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(o.text, "abc");
}

TEST(StopMatcher, HeldTextIsReleasedWhenItCannotMatch) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.feed("ST").text, "");
  EXPECT_EQ(m.feed("A").text, "STA");
  EXPECT_EQ(m.feed("STO").text, "");
  EXPECT_EQ(m.flush(), "STO");  // generation ended otherwise: nothing is lost
}

TEST(StopMatcher, OverlappingPrefixesStopAtTheFirstToComplete) {
  // "ab" completes before "abc" could: a streaming server cannot wait.
  auto o = run({"abc", "ab"}, {"xa", "b", "c"});
  EXPECT_EQ(o.text, "x");
  EXPECT_EQ(o.matched, "ab");
  o = run({"abc", "ab"}, {"xabc"});
  EXPECT_EQ(o.matched, "ab");
  // Completing at the same byte, the longest is cut.
  o = run({"bc", "abc"}, {"xab", "c"});
  EXPECT_EQ(o.text, "x");
  EXPECT_EQ(o.matched, "abc");
  // A longer stop string still pending does not delay a shorter one.
  o = run({"abcd", "bc"}, {"a", "b", "c", "d"});
  EXPECT_EQ(o.text, "a");
  EXPECT_EQ(o.matched, "bc");
}

TEST(StopMatcher, SelfOverlappingStopStrings) {
  auto o = run({"aab"}, {"a", "a", "a", "b", "z"});
  EXPECT_EQ(o.text, "a");
  EXPECT_TRUE(o.stopped);
  o = run({"abab"}, {"ababab"});
  EXPECT_EQ(o.text, "");
  o = run({"abac"}, {"ababac!"});
  EXPECT_EQ(o.text, "ab");
}

TEST(StopMatcher, Unicode) {
  // "世界" is 6 bytes; fed byte by byte it still matches, and no released
  // chunk ends inside a character.
  const std::string text = "你好，世界！";
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  StopMatcher m({"世界"});
  std::string out;
  for (const auto& b : bytes) {
    const auto r = m.feed(b);
    if (!r.text.empty()) {
      const auto last = static_cast<unsigned char>(r.text.back());
      EXPECT_TRUE(last < 0x80 || (last & 0xC0) == 0x80) << "released a lead byte";
    }
    out += r.text;
    if (r.stopped) break;
  }
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(out, "你好，");
}

TEST(StopMatcher, IncompleteUtf8IsHeldWithoutStops) {
  StopMatcher m;
  EXPECT_EQ(m.feed("a\xe4\xb8").text, "a");
  EXPECT_EQ(m.feed("\x96").text, "\xe4\xb8\x96");  // 世
  EXPECT_EQ(m.feed("\xf0\x9f").text, "");
  EXPECT_EQ(m.flush(), "\xf0\x9f");  // released as is at the end
}

TEST(StopMatcher, EmptyStopStringsAreIgnored) {
  const auto o = run({"", "end"}, {"the ", "end"});
  EXPECT_EQ(o.text, "the ");
  EXPECT_EQ(o.matched, "end");
  EXPECT_EQ(StopMatcher({""}).stops().size(), 0u);
}

TEST(StopMatcher, ResetStartsOver) {
  StopMatcher m({"x"});
  EXPECT_TRUE(m.feed("ax").stopped);
  m.reset();
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.feed("bb").text, "bb");
}

TEST(StopMatcher, AnyCutIntoPiecesMatchesTheWholeTextReading) {
  std::mt19937 rng(2024);
  const std::string alphabet = "abc\xc3\xa9";  // includes the 2 bytes of "é"
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<std::string> stops;
    const int n_stops = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < n_stops; ++i) {
      std::string s;
      const size_t len = 1 + rng() % 4;
      for (size_t j = 0; j < len; ++j) s += "abc"[rng() % 3];
      stops.push_back(s);
    }
    if (trial % 5 == 0) stops.push_back("\xc3\xa9");
    std::string text;
    const size_t len = rng() % 30;
    for (size_t j = 0; j < len; ++j) {
      if (rng() % 6 == 0) text += "\xc3\xa9";
      else text += "abc"[rng() % 3];
    }
    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size();) {
      const size_t n = std::min(text.size() - i, static_cast<size_t>(rng() % 5));
      pieces.push_back(text.substr(i, n));  // empty pieces too
      i += n;
    }
    const auto got = run(stops, pieces);
    const auto want = reference(stops, text);
    ASSERT_EQ(got.text, want.text) << "trial " << trial << " text " << text;
    ASSERT_EQ(got.stopped, want.stopped) << "trial " << trial;
    ASSERT_EQ(got.matched, want.matched) << "trial " << trial;
  }
}

}  // namespace
}  // namespace kiln::engine
