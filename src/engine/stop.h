#pragma once
// Stop strings across token boundaries. Generated text arrives piece by piece
// (one detokenized token at a time); a stop string may span several pieces
// or begin in the middle of one. The matcher releases text as soon as it
// cannot be part of a stop string, holds back the longest tail that could
// still grow into one, and when one completes it stops and drops the stop
// string and everything after it, as Ollama and OpenAI do ("the returned
// text will not contain the stop sequence").
//
// Matching runs one Knuth-Morris-Pratt automaton per stop string over the
// bytes, so the result never depends on how the text was cut into pieces:
// generation stops at the first byte where a stop string completes (what a
// streaming server must do: it cannot wait for a longer match), and when
// several complete at that byte the longest one is cut. Besides stop
// prefixes, an incomplete UTF-8 sequence at the end is held back too, so
// every released chunk is whole characters when the input is valid UTF-8.
//
// Cost: O(bytes x stop strings). Allocates nothing per piece once its
// buffers have grown to the longest stop string plus the longest piece.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::engine {

class StopMatcher {
 public:
  StopMatcher() = default;
  // Empty strings are ignored.
  explicit StopMatcher(std::vector<std::string> stops);

  struct Result {
    std::string_view text;  // safe to emit now; valid until the next call
    bool stopped = false;   // a stop string completed: generation ends here
  };

  // Appends a piece. After a stop, further pieces are ignored.
  Result feed(std::string_view piece);
  // End of generation without a stop (EOS, num_predict, context full): the
  // held-back text is released. Valid until the next call.
  std::string_view flush();
  // Starts over for a new generation with the same stop strings.
  void reset();

  bool stopped() const { return matched_ >= 0; }
  // The stop string that matched; empty when none did.
  std::string_view matched() const;
  // Bytes currently held back (tests and debugging).
  std::string_view held() const { return held_; }
  const std::vector<std::string>& stops() const { return strings_; }

 private:
  struct Automaton {
    std::string text;
    std::vector<int> fail;  // fail[i]: longest proper border of text[0, i]
    int state = 0;          // bytes of text matched by the input's tail
  };

  std::vector<Automaton> stops_;
  std::vector<std::string> strings_;
  std::string held_;  // text not yet released
  std::string out_;   // the released text of the last call
  int matched_ = -1;  // index into stops_
};

}  // namespace kiln::engine
