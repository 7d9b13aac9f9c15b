// Code point ranges to UTF-8 byte-range sequences.
//
// A range of code points whose UTF-8 encodings have the same length and
// differ only in "whole" trailing bytes (every value 0x80-0xBF) is exactly a
// product of per-byte ranges. Splitting a range at the boundaries where that
// stops being true gives a small set of such products (the method of the
// utf8-ranges / regex-automata crates; this is an independent writing of it).
#include <algorithm>

#include "engine/grammar.h"

namespace kiln::engine {
namespace {

int utf8_length(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

void encode(uint32_t cp, uint8_t* out) {
  switch (utf8_length(cp)) {
    case 1: out[0] = static_cast<uint8_t>(cp); break;
    case 2:
      out[0] = static_cast<uint8_t>(0xC0 | (cp >> 6));
      out[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
      break;
    case 3:
      out[0] = static_cast<uint8_t>(0xE0 | (cp >> 12));
      out[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
      out[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
      break;
    default:
      out[0] = static_cast<uint8_t>(0xF0 | (cp >> 18));
      out[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
      out[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
      out[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
  }
}

// [lo, hi] with encodings of one common length.
void split_same_length(uint32_t lo, uint32_t hi, std::vector<std::vector<ByteSet>>& out) {
  const int n = utf8_length(lo);
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (uint32_t{1} << (6 * i)) - 1;  // the low i continuation bytes
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        split_same_length(lo, lo | m, out);
        split_same_length((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        split_same_length(lo, (hi & ~m) - 1, out);
        split_same_length(hi & ~m, hi, out);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  encode(lo, a);
  encode(hi, b);
  std::vector<ByteSet> seq(n);
  for (int i = 0; i < n; ++i) seq[i].set_range(a[i], b[i]);
  out.push_back(std::move(seq));
}

}  // namespace

std::vector<std::vector<ByteSet>> utf8_sequences(const std::vector<CodepointRange>& ranges) {
  std::vector<std::vector<ByteSet>> seqs;
  static constexpr uint32_t kLengthEnds[] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
  for (CodepointRange r : ranges) {
    uint32_t lo = r.lo;
    for (uint32_t end : kLengthEnds) {
      if (lo > r.hi) break;
      if (lo > end) continue;
      split_same_length(lo, std::min(r.hi, end), seqs);
      lo = end + 1;
    }
  }
  // Merge sequences that differ only in their first byte (e.g. E1-EC and
  // EE-EF leads with the same two continuation ranges): fewer alternatives,
  // fewer stacks per matched byte.
  std::vector<std::vector<ByteSet>> merged;
  for (auto& s : seqs) {
    bool done = false;
    if (s.size() == 1) {
      for (auto& m : merged)
        if (m.size() == 1) {
          m[0] |= s[0];
          done = true;
          break;
        }
    } else {
      for (auto& m : merged)
        if (m.size() == s.size() && std::equal(m.begin() + 1, m.end(), s.begin() + 1)) {
          m[0] |= s[0];
          done = true;
          break;
        }
    }
    if (!done) merged.push_back(std::move(s));
  }
  return merged;
}

}  // namespace kiln::engine
