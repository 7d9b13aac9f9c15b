#pragma once
// Small UTF-8 helpers shared by the encoders and the decoders.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln::tok::utf8 {

// Length of the well-formed UTF-8 sequence starting at s[0] (1..4), or 0 when
// s does not start with one (bad lead byte, bad continuation, overlong form,
// surrogate, above U+10FFFF, or cut short by the end of s).
size_t valid_sequence_length(std::string_view s);

// For s that does not start with a valid sequence: the length of the maximal
// prefix that could still begin a valid sequence (the "maximal subpart" of
// Unicode's U+FFFD substitution rule), at least 1. `complete` is set to false
// when that prefix reaches the end of s and more bytes could complete it.
size_t invalid_prefix_length(std::string_view s, bool& could_complete);

// Appends s to out, replacing each maximal invalid subpart with U+FFFD.
void append_lossy(std::string& out, std::string_view s);

// Appends the UTF-8 encoding of code point cp (cp <= 0x10FFFF, not a surrogate).
void append_code_point(std::string& out, uint32_t cp);

// Byte length of the character starting at s[0]: the valid sequence length, or
// 1 for a byte that starts no valid sequence (so iteration always advances).
inline size_t char_length(std::string_view s) {
  const auto b = static_cast<unsigned char>(s[0]);
  if (b < 0x80) return 1;
  const size_t n = valid_sequence_length(s);
  return n == 0 ? 1 : n;
}

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

}  // namespace kiln::tok::utf8
