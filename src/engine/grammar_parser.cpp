// GBNF text to Grammar: llama.cpp's grammar syntax, so users can bring the
// grammars they already have.
//
//   rule-name ::= alternative | alternative ...
//   items: "literal" [class] [^negated] . (group) rule-name
//   postfix: * + ? {m} {m,} {m,n} {,n}
//   # comments; newlines end a rule except inside ( ), after ::= and after |
//
// Escapes (in literals and classes): \n \r \t \\ \" \[ \] \- \^ \xHH
// \uHHHH \UHHHHHHHH. As in llama.cpp, an escape names a code point, which is
// matched as its UTF-8 bytes. One leniency over llama.cpp: a line that starts
// with | continues the previous rule.
#include <algorithm>
#include <optional>

#include "core/error.h"
#include "engine/grammar.h"
#include "tokenizer/utf8.h"

namespace kiln::engine {
namespace {

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

class Parser {
 public:
  explicit Parser(std::string_view src) : src_(src) {}

  std::shared_ptr<const Grammar> run(std::string_view root) {
    skip_space(true);
    while (pos_ < src_.size()) {
      parse_rule();
      skip_space(true);
    }
    for (auto [rule, at] : first_use_)
      if (!b_.is_defined(rule)) fail("rule '" + b_.name(rule) + "' is used but never defined", at);
    if (std::find_if(first_def_.begin(), first_def_.end(), [&](auto& d) { return b_.name(d) == root; }) ==
        first_def_.end())
      throw kiln::Error("grammar has no rule '" + std::string(root) + "'");
    return b_.build(root);
  }

 private:
  using Sequence = GrammarBuilder::Sequence;

  [[noreturn]] void fail(const std::string& msg, size_t at) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw kiln::Error("grammar line " + std::to_string(line) + ", column " + std::to_string(col) + ": " + msg);
  }
  [[noreturn]] void fail(const std::string& msg) const { fail(msg, pos_); }

  bool eof() const { return pos_ >= src_.size(); }
  char peek() const { return eof() ? '\0' : src_[pos_]; }

  void skip_space(bool newline_ok) {
    while (!eof()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '#') {
        while (!eof() && src_[pos_] != '\n') ++pos_;
      } else if (c == '\n' && newline_ok) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  std::string parse_name() {
    size_t start = pos_;
    while (!eof() && is_word_char(src_[pos_])) ++pos_;
    if (pos_ == start) fail(eof() ? "expected a rule name at the end of the grammar" : std::string("expected a rule name, found '") + peek() + "'");
    return std::string(src_.substr(start, pos_ - start));
  }

  void parse_rule() {
    size_t start = pos_;
    std::string name = parse_name();
    skip_space(false);
    if (src_.substr(pos_, 3) != "::=") fail("expected '::=' after rule name '" + name + "'");
    pos_ += 3;
    skip_space(true);
    uint32_t rule = b_.rule(name);
    if (b_.is_defined(rule)) fail("rule '" + name + "' is defined twice", start);
    std::vector<Sequence> alts = parse_alternatives(name, false);
    b_.define(rule, std::move(alts));
    first_def_.push_back(rule);
    skip_space(false);
    if (!eof() && peek() != '\n') fail(std::string("unexpected '") + peek() + "'");
  }

  std::vector<Sequence> parse_alternatives(const std::string& base, bool nested) {
    std::vector<Sequence> alts;
    alts.push_back(parse_sequence(base, nested));
    for (;;) {
      size_t save = pos_;
      skip_space(true);
      if (peek() == '|') {
        ++pos_;
        skip_space(true);
        alts.push_back(parse_sequence(base, nested));
      } else {
        if (!nested) pos_ = save;
        return alts;
      }
    }
  }

  // One code point of a literal or class (the opening has been consumed).
  uint32_t parse_char() {
    if (eof()) fail("unexpected end of grammar");
    unsigned char c = static_cast<unsigned char>(src_[pos_]);
    if (c == '\\') {
      ++pos_;
      if (eof()) fail("unexpected end of grammar after '\\'");
      char e = src_[pos_++];
      switch (e) {
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case '\\': case '"': case '[': case ']': case '-': case '^': case '/': case '\'': return static_cast<uint8_t>(e);
        case 'x': return parse_hex(2);
        case 'u': return parse_hex(4);
        case 'U': return parse_hex(8);
        default: fail(std::string("unknown escape '\\") + e + "'", pos_ - 2);
      }
    }
    // A UTF-8 character of the grammar text itself.
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || pos_ + len > src_.size()) fail("invalid UTF-8 in grammar");
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (int i = 1; i < len; ++i) {
      unsigned char d = static_cast<unsigned char>(src_[pos_ + i]);
      if ((d & 0xC0) != 0x80) fail("invalid UTF-8 in grammar");
      cp = (cp << 6) | (d & 0x3F);
    }
    pos_ += len;
    return cp;
  }

  uint32_t parse_hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      char h = peek();
      int d = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
      if (d < 0) fail("expected " + std::to_string(digits) + " hex digits in escape");
      v = v * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    if (v > 0x10FFFF) fail("escape names no Unicode code point");
    return v;
  }

  int parse_int() {
    size_t start = pos_;
    long v = 0;
    while (!eof() && peek() >= '0' && peek() <= '9') {
      v = v * 10 + (peek() - '0');
      if (v > 1000000) fail("repetition count too large", start);
      ++pos_;
    }
    if (pos_ == start) fail("expected a number in repetition");
    return static_cast<int>(v);
  }

  Sequence parse_sequence(const std::string& base, bool nested) {
    Sequence seq;
    size_t item_start = 0;  // where the last item's symbols begin in seq
    bool have_item = false;
    // The last item when it was just quantified by *, + or ?: another of
    // those right after it is folded into one repetition (x++ is x+, x+* and
    // x*+ are x*). Nested repetitions of one item are ambiguous, and the
    // matcher's stack count grows exponentially with their depth.
    struct Quantified {
      Sequence item;
      int min, max;
    };
    std::optional<Quantified> last_simple;
    for (;;) {
      skip_space(nested);
      if (eof()) break;
      char c = peek();
      size_t at = pos_;
      const bool simple_quantifier = c == '*' || c == '+' || c == '?';
      if (!simple_quantifier) {
        if (c != '{') last_simple.reset();
      } else if (last_simple) {
        ++pos_;
        const int min = c == '+' ? 1 : 0, max = c == '?' ? 1 : -1;
        // (x{a,b}){c,d} with a, c in {0, 1} and b, d in {1, inf} is x{a*c, b*d}.
        last_simple->min *= min;
        last_simple->max = (last_simple->max < 0 || max < 0) ? -1 : last_simple->max * max;
        seq.resize(item_start);
        b_.append_repeat(seq, last_simple->item, last_simple->min, last_simple->max, base);
        continue;
      }
      if (c == '"') {
        ++pos_;
        item_start = seq.size();
        std::string bytes;
        while (!eof() && peek() != '"') {
          if (peek() == '\n') fail("unterminated string literal", at);
          tok::utf8::append_code_point(bytes, parse_char());
        }
        if (eof()) fail("unterminated string literal", at);
        ++pos_;
        b_.append_literal(seq, bytes);
        if (bytes.empty()) {
          have_item = false;  // "" is the empty string: nothing to repeat
          continue;
        }
      } else if (c == '[') {
        ++pos_;
        bool negated = false;
        if (peek() == '^') {
          negated = true;
          ++pos_;
        }
        std::vector<CodepointRange> ranges;
        while (!eof() && peek() != ']') {
          uint32_t lo = parse_char();
          uint32_t hi = lo;
          if (peek() == '-' && pos_ + 1 < src_.size() && src_[pos_ + 1] != ']') {
            ++pos_;
            hi = parse_char();
            if (hi < lo) fail("character range is reversed", at);
          }
          ranges.push_back({lo, hi});
        }
        if (eof()) fail("unterminated character class", at);
        ++pos_;
        item_start = seq.size();
        try {
          seq.push_back(b_.codepoint_class(std::move(ranges), negated));
        } catch (const kiln::Error& e) {
          fail(e.what(), at);
        }
      } else if (c == '.') {
        ++pos_;
        item_start = seq.size();
        seq.push_back(b_.codepoint_class({}, true));
      } else if (c == '(') {
        ++pos_;
        skip_space(true);
        std::vector<Sequence> alts = parse_alternatives(base, true);
        skip_space(true);
        if (peek() != ')') fail("expected ')'", pos_);
        ++pos_;
        item_start = seq.size();
        if (alts.size() == 1) {
          seq.insert(seq.end(), alts[0].begin(), alts[0].end());
        } else {
          uint32_t r = b_.fresh_rule(base);
          b_.define(r, std::move(alts));
          seq.push_back(b_.ref(r));
        }
        if (seq.size() == item_start) {
          have_item = false;  // () matches only ""
          continue;
        }
      } else if (is_word_char(c)) {
        std::string name = parse_name();
        uint32_t r = b_.rule(name);
        if (!b_.is_defined(r) && std::none_of(first_use_.begin(), first_use_.end(), [&](auto& u) { return u.first == r; }))
          first_use_.emplace_back(r, at);
        item_start = seq.size();
        seq.push_back(b_.ref(r));
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (!have_item) fail(std::string("'") + c + "' has nothing to repeat");
        int min = 0, max = -1;
        ++pos_;
        if (c == '+') min = 1;
        else if (c == '?') max = 1;
        else if (c == '{') {
          skip_space(false);
          if (peek() != ',') min = parse_int();
          skip_space(false);
          if (peek() == ',') {
            ++pos_;
            skip_space(false);
            if (peek() != '}') max = parse_int();
          } else {
            max = min;
          }
          skip_space(false);
          if (peek() != '}') fail("expected '}' to close the repetition");
          ++pos_;
          if (max >= 0 && max < min) fail("repetition maximum is below its minimum", at);
        }
        Sequence item(seq.begin() + static_cast<std::ptrdiff_t>(item_start), seq.end());
        seq.resize(item_start);
        b_.append_repeat(seq, item, min, max, base);
        if (c != '{') last_simple = Quantified{std::move(item), min, max};
        else last_simple.reset();
        continue;  // a repeated item can be repeated again: x** is legal
      } else if (c == '<') {
        fail("token references (<...>) are not supported");
      } else if (c == '|' || c == ')' || c == '\n') {
        break;
      } else {
        fail(std::string("unexpected '") + c + "'");
      }
      have_item = true;
    }
    return seq;
  }

  std::string_view src_;
  size_t pos_ = 0;
  GrammarBuilder b_;
  std::vector<std::pair<uint32_t, size_t>> first_use_;
  std::vector<uint32_t> first_def_;
};

}  // namespace

std::shared_ptr<const Grammar> Grammar::parse(std::string_view gbnf, std::string_view root) {
  return Parser(gbnf).run(root);
}

}  // namespace kiln::engine
