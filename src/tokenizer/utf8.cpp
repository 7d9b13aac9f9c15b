#include "tokenizer/utf8.h"

namespace kiln::tok::utf8 {
namespace {

// Valid ranges of the second byte for each lead byte (Unicode Table 3-7);
// later continuation bytes are always 0x80..0xBF.
bool second_byte_ok(unsigned char lead, unsigned char b) {
  if (lead == 0xE0) return b >= 0xA0 && b <= 0xBF;
  if (lead == 0xED) return b >= 0x80 && b <= 0x9F;  // no surrogates
  if (lead == 0xF0) return b >= 0x90 && b <= 0xBF;
  if (lead == 0xF4) return b >= 0x80 && b <= 0x8F;  // <= U+10FFFF
  return b >= 0x80 && b <= 0xBF;
}

size_t expected_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;  // continuation byte, C0/C1 (overlong) or F5..FF
}

// Number of leading bytes of s that agree with a valid sequence (<= need).
size_t matching_prefix(std::string_view s, size_t need) {
  const auto lead = static_cast<unsigned char>(s[0]);
  size_t i = 1;
  for (; i < need && i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    const bool ok = i == 1 ? second_byte_ok(lead, b) : (b >= 0x80 && b <= 0xBF);
    if (!ok) break;
  }
  return i;
}

}  // namespace

size_t valid_sequence_length(std::string_view s) {
  if (s.empty()) return 0;
  const size_t need = expected_length(static_cast<unsigned char>(s[0]));
  if (need == 0) return 0;
  return matching_prefix(s, need) == need ? need : 0;
}

size_t invalid_prefix_length(std::string_view s, bool& could_complete) {
  could_complete = false;
  const size_t need = expected_length(static_cast<unsigned char>(s[0]));
  if (need == 0) return 1;
  const size_t have = matching_prefix(s, need);
  could_complete = have == s.size() && have < need;
  return have;
}

void append_lossy(std::string& out, std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    const std::string_view rest = s.substr(i);
    const size_t n = valid_sequence_length(rest);
    if (n > 0) {
      out.append(rest.substr(0, n));
      i += n;
    } else {
      bool could_complete = false;
      i += invalid_prefix_length(rest, could_complete);
      out.append(kReplacementChar);
    }
  }
}

void append_code_point(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace kiln::tok::utf8
