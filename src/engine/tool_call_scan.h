#pragma once
// Byte-level helpers shared by the streaming tool-call parser and the
// thinking splitter. Both consume generated text piece by piece and must give
// the same result however the text was cut, so every decision they make is a
// function of the bytes seen so far, never of where a piece ended; these
// helpers are the building blocks of that rule.
#include <cstddef>
#include <string_view>

namespace kiln::engine {

// JSON whitespace (and what models put between tags): space, tab, CR, LF.
inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Length of the longest proper prefix of `marker` that `text` ends with: the
// bytes to hold back because the marker may complete in the next piece.
size_t marker_overlap(std::string_view text, std::string_view marker);

// Trailing bytes of `text` that begin a UTF-8 character without finishing
// it; holding them back keeps every released chunk whole characters.
size_t incomplete_utf8_tail(std::string_view text);

// Finds where a JSON object or array ends, one byte at a time, counting
// brackets outside strings (so braces and quotes inside string values,
// escaped or not, never confuse it). It only finds the extent; the value is
// then parsed properly, so "{]" or a bad literal is caught by the parser.
class JsonExtent {
 public:
  // Call with the opening '{' or '[' first. Returns true on the byte that
  // closes the outermost value.
  bool feed(char c);
  void reset() { *this = JsonExtent(); }
  bool started() const { return depth_ > 0 || closed_; }

 private:
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  bool closed_ = false;
};

}  // namespace kiln::engine
