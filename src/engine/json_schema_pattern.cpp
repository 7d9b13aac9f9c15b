// JSON Schema `pattern` (ECMAScript regular expressions) to GBNF for the
// contents of a JSON string.
//
// Supported: literals, escapes (\. \\ \/ \n \t \r \uHHHH ...), . (any
// character but line breaks), classes [a-z] [^...] with \d \w \s inside and
// out (and \D \W \S), groups ( ) (?: ), alternation |, quantifiers * + ?
// {n} {n,} {n,m} (lazy forms match the same strings). ^ and $ are anchors
// only at the ends; as JSON Schema says, a pattern without ^ (or $) may be
// preceded (followed) by anything. Not supported, with an error naming the
// construct: backreferences, lookaround, word boundaries, named groups.
//
// The grammar is over the *encoded* string: a '"' in the value is written
// \", a backslash \\, control characters as JSON escapes.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/grammar.h"
#include "tokenizer/utf8.h"
#include "engine/json_schema.h"

namespace kiln::engine {
namespace {

std::string gbnf_literal(std::string_view bytes) {
  std::string out = "\"";
  for (unsigned char c : bytes) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// How a code point is written inside a JSON string (one fixed form each).
std::string json_encoded(uint32_t cp) {
  switch (cp) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default: break;
  }
  std::string out;
  if (cp < 0x20) {
    char buf[8];
    snprintf(buf, sizeof buf, "\\u%04x", cp);
    return buf;
  }
  tok::utf8::append_code_point(out, cp);
  return out;
}

std::string class_escape(uint32_t cp) {
  char buf[16];
  if (cp < 0x80) snprintf(buf, sizeof buf, "\\x%02X", cp);
  else if (cp < 0x10000) snprintf(buf, sizeof buf, "\\u%04X", cp);
  else snprintf(buf, sizeof buf, "\\U%08X", cp);
  return buf;
}

using Ranges = std::vector<CodepointRange>;

Ranges normalize(Ranges r, bool negated) {
  std::sort(r.begin(), r.end(), [](auto a, auto b) { return a.lo < b.lo; });
  Ranges m;
  for (auto x : r) {
    if (!m.empty() && x.lo <= m.back().hi + 1) m.back().hi = std::max(m.back().hi, x.hi);
    else m.push_back(x);
  }
  if (!negated) return m;
  Ranges c;
  uint32_t next = 0;
  for (auto x : m) {
    if (x.lo > next) c.push_back({next, x.lo - 1});
    next = x.hi + 1;
  }
  if (next <= 0x10FFFF) c.push_back({next, 0x10FFFF});
  return c;
}

// One character of the set, as it appears encoded in a JSON string.
std::string set_expr(const Ranges& set) {
  std::vector<std::string> alts;
  std::string cls;
  for (auto r : set) {
    // Code points written as themselves: everything but controls, " and \.
    for (uint32_t lo = r.lo; lo <= r.hi;) {
      if (lo < 0x20 || lo == '"' || lo == '\\') {
        alts.push_back(gbnf_literal(json_encoded(lo)));
        ++lo;
        continue;
      }
      uint32_t hi = r.hi;
      if (lo < '"' && hi >= '"') hi = '"' - 1;
      else if (lo < '\\' && hi >= '\\') hi = '\\' - 1;
      cls += class_escape(lo);
      if (hi > lo) cls += "-" + class_escape(hi);
      lo = hi + 1;
      if (hi == 0x10FFFF) break;
    }
  }
  if (!cls.empty()) alts.insert(alts.begin(), "[" + cls + "]");
  if (alts.empty()) throw kiln::Error("pattern has a character class that matches nothing");
  if (alts.size() == 1) return alts[0];
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : " ") + alts[i];
  return out + " )";
}

const Ranges kDigit = {{'0', '9'}};
const Ranges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
const Ranges kSpace = {{'\t', '\r'}, {' ', ' '}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
                       {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};

class PatternParser {
 public:
  explicit PatternParser(const std::string& p) : p_(p) {}

  std::string run() {
    bool start_anchor = false, end_anchor = false;
    size_t end = p_.size();
    if (!p_.empty() && p_[0] == '^') {
      start_anchor = true;
      i_ = 1;
    }
    if (end > i_ && p_[end - 1] == '$' && !(end >= 2 && p_[end - 2] == '\\')) {
      end_anchor = true;
      end_ = end - 1;
    } else {
      end_ = end;
    }
    std::string body = alternation();
    if (i_ != end_) fail("unexpected ')'");
    const std::string any = "( " + set_expr(normalize({}, true)) + " )*";
    return (start_anchor ? "" : any + " ") + body + (end_anchor ? "" : " " + any);
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw kiln::Error("pattern '" + p_ + "' at offset " + std::to_string(i_) + ": " + msg);
  }
  bool more() const { return i_ < end_; }
  char peek() const { return more() ? p_[i_] : '\0'; }

  uint32_t read_utf8() {
    unsigned char c = static_cast<unsigned char>(p_[i_]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i_ + len > end_) fail("invalid UTF-8");
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(p_[i_ + k]);
      if ((b & 0xC0) != 0x80) fail("invalid UTF-8");
      cp = (cp << 6) | (b & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF (lead bytes F5-F7,
    // found by fuzz_json) have no code point to write into the grammar.
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail("invalid UTF-8");
    i_ += len;
    return cp;
  }

  uint32_t hex(int n) {
    uint32_t v = 0;
    for (int k = 0; k < n; ++k) {
      if (!more() || !std::isxdigit(static_cast<unsigned char>(peek()))) fail("bad hex escape");
      char h = p_[i_++];
      v = v * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
    }
    return v;
  }

  // After a backslash: a set (\d ...) or a single code point.
  Ranges escape(bool in_class) {
    if (!more()) fail("pattern ends with a backslash");
    char e = p_[i_++];
    switch (e) {
      case 'd': return kDigit;
      case 'D': return normalize(kDigit, true);
      case 'w': return kWord;
      case 'W': return normalize(kWord, true);
      case 's': return kSpace;
      case 'S': return normalize(kSpace, true);
      case 'n': return {{'\n', '\n'}};
      case 'r': return {{'\r', '\r'}};
      case 't': return {{'\t', '\t'}};
      case 'f': return {{'\f', '\f'}};
      case 'v': return {{'\v', '\v'}};
      case '0': return {{0, 0}};
      case 'x': {
        uint32_t v = hex(2);
        return {{v, v}};
      }
      case 'u': {
        uint32_t v = hex(4);
        return {{v, v}};
      }
      case 'b':
        if (in_class) return {{'\b', '\b'}};
        fail("word boundaries (\\b) are not supported");
      case 'B': fail("word boundaries (\\B) are not supported");
      default:
        if (e >= '1' && e <= '9') fail("backreferences are not supported");
        if (std::isalnum(static_cast<unsigned char>(e))) fail(std::string("unknown escape \\") + e);
        return {{static_cast<uint32_t>(static_cast<unsigned char>(e)), static_cast<uint32_t>(static_cast<unsigned char>(e))}};
    }
  }

  std::string char_class() {
    ++i_;  // [
    bool negated = false;
    if (peek() == '^') {
      negated = true;
      ++i_;
    }
    Ranges set;
    bool first = true;
    while (more() && (peek() != ']' || first)) {
      first = false;
      Ranges lo_set;
      if (peek() == '\\') {
        ++i_;
        lo_set = escape(true);
      } else {
        uint32_t c = read_utf8();
        lo_set = {{c, c}};
      }
      if (lo_set.size() == 1 && lo_set[0].lo == lo_set[0].hi && peek() == '-' && i_ + 1 < end_ && p_[i_ + 1] != ']') {
        ++i_;
        uint32_t hi;
        if (peek() == '\\') {
          ++i_;
          Ranges h = escape(true);
          if (h.size() != 1 || h[0].lo != h[0].hi) fail("class range ends in a set");
          hi = h[0].lo;
        } else {
          hi = read_utf8();
        }
        if (hi < lo_set[0].lo) fail("class range is reversed");
        set.push_back({lo_set[0].lo, hi});
      } else {
        set.insert(set.end(), lo_set.begin(), lo_set.end());
      }
    }
    if (!more()) fail("unterminated character class");
    ++i_;  // ]
    return set_expr(normalize(set, negated));
  }

  std::string atom() {
    char c = peek();
    if (c == '(') {
      ++i_;
      if (peek() == '?') {
        if (i_ + 1 < end_ && p_[i_ + 1] == ':') i_ += 2;
        else fail("lookaround and named groups are not supported");
      }
      std::string inner = alternation();
      if (peek() != ')') fail("missing ')'");
      ++i_;
      return "( " + inner + " )";
    }
    if (c == '[') return char_class();
    if (c == '.') {
      ++i_;
      return set_expr(normalize({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}}, true));
    }
    if (c == '\\') {
      ++i_;
      Ranges r = escape(false);
      if (r.size() == 1 && r[0].lo == r[0].hi) return gbnf_literal(json_encoded(r[0].lo));
      return set_expr(normalize(r, false));
    }
    if (c == '^' || c == '$') fail("anchors are supported only at the start and end");
    if (c == '*' || c == '+' || c == '?' || c == '{') fail("quantifier has nothing to repeat");
    return gbnf_literal(json_encoded(read_utf8()));
  }

  int number() {
    size_t start = i_;
    int v = 0;
    while (more() && std::isdigit(static_cast<unsigned char>(peek()))) {
      v = v * 10 + (p_[i_++] - '0');
      if (v > 10000) fail("repetition count over 10000");
    }
    if (i_ == start) fail("expected a number");
    return v;
  }

  std::string item() {
    std::string a = atom();
    for (;;) {
      char c = peek();
      std::string q;
      if (c == '*' || c == '+' || c == '?') {
        ++i_;
        q = c;
      } else if (c == '{') {
        ++i_;
        int lo = number(), hi = lo;
        if (peek() == ',') {
          ++i_;
          hi = peek() == '}' ? -1 : number();
        }
        if (peek() != '}') fail("expected '}'");
        ++i_;
        if (hi >= 0 && hi < lo) fail("repetition maximum below its minimum");
        q = "{" + std::to_string(lo) + (hi == lo ? "" : "," + (hi < 0 ? std::string() : std::to_string(hi))) + "}";
      } else {
        return a;
      }
      if (peek() == '?') ++i_;  // lazy: same language
      a = "( " + a + " )" + q;
      // ECMAScript rejects a quantified quantifier (a*+, a?{2}); converting it
      // would repeat a nullable item, which GBNF reads as left recursion.
      c = peek();
      if (c == '*' || c == '+' || c == '?' || c == '{') fail("quantifier has nothing to repeat");
    }
  }

  std::string alternation() {
    std::vector<std::string> alts;
    std::string seq;
    for (;;) {
      if (!more() || peek() == ')') {
        alts.push_back(seq.empty() ? "\"\"" : seq);
        break;
      }
      if (peek() == '|') {
        ++i_;
        alts.push_back(seq.empty() ? "\"\"" : seq);
        seq.clear();
        continue;
      }
      std::string it = item();
      seq += (seq.empty() ? "" : " ") + it;
    }
    if (alts.size() == 1) return alts[0];
    std::string out = "(";
    for (size_t k = 0; k < alts.size(); ++k) out += (k ? " | " : " ") + alts[k];
    return out + " )";
  }

  const std::string& p_;
  size_t i_ = 0, end_ = 0;
};

}  // namespace

std::string json_pattern_to_gbnf(const std::string& pattern) { return PatternParser(pattern).run(); }

}  // namespace kiln::engine
