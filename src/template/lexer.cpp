#include "template/lexer.h"

#include <algorithm>
#include <cstdlib>

#include "template/template_error.h"
#include "template/text.h"

namespace kiln::tmpl {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

constexpr size_t kNone = std::string::npos;

class Lexer {
 public:
  explicit Lexer(std::string_view raw) {
    // Jinja turns \r\n and \r into \n and drops one trailing newline
    // (keep_trailing_newline=False) before lexing.
    src_.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\r') {
        src_.push_back('\n');
        if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
      } else {
        src_.push_back(raw[i]);
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    const size_t n = src_.size();
    while (pos < n) {
      size_t start = find_tag_start(pos);
      if (start == std::string::npos) {
        push(TokenType::Text, src_.substr(pos), pos);
        break;
      }
      char kind = src_[start + 1];
      size_t after = start + 2;
      char sign = 0;
      if (after < n && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
      size_t raw_body = kind == '%' ? match_raw_begin(after) : kNone;
      std::string text = strip_before_tag(src_.substr(pos, start - pos), sign, kind == '{');
      if (!text.empty()) push(TokenType::Text, std::move(text), pos);
      line_starting_ = false;  // the match ends with the tag opener
      if (raw_body != kNone) {
        line_starting_ = raw_body > 0 && src_[raw_body - 1] == '\n';
        pos = lex_raw(raw_body, start);
      } else if (kind == '#') {
        pos = lex_comment(after, start);
      } else {
        pos = lex_tag(after, start, kind == '{');
      }
    }
    push(TokenType::End, "", n);
    return std::move(out_);
  }

 private:
  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> out_;
  bool line_starting_ = true;  // did the previous match end with a newline?

  std::pair<int, int> position(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    size_t line_index = static_cast<size_t>(it - line_starts_.begin()) - 1;
    size_t line_start = line_starts_[line_index];
    int column = static_cast<int>(text::length(std::string_view(src_).substr(line_start, offset - line_start))) + 1;
    return {static_cast<int>(line_index) + 1, column};
  }

  [[noreturn]] void fail(const std::string& message, size_t offset) const {
    auto [line, column] = position(std::min(offset, src_.size()));
    throw TemplateError(message, line, column);
  }

  Token& push(TokenType type, std::string text, size_t offset) {
    auto [line, column] = position(offset);
    Token token{type, std::move(text)};
    token.line = line;
    token.column = column;
    out_.push_back(std::move(token));
    return out_.back();
  }

  size_t find_tag_start(size_t pos) const {
    while (true) {
      size_t brace = src_.find('{', pos);
      if (brace == std::string::npos || brace + 1 >= src_.size()) return std::string::npos;
      char next = src_[brace + 1];
      if (next == '{' || next == '%' || next == '#') return brace;
      pos = brace + 1;
    }
  }

  // Byte length of the (Unicode) whitespace character at pos, 0 if none.
  size_t space_at(size_t pos) const {
    if (pos >= src_.size()) return 0;
    auto b = static_cast<unsigned char>(src_[pos]);
    if (b < 0x80) return text::is_space(b) ? 1 : 0;
    size_t len = (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 1;
    std::u32string cp = text::decode(std::string_view(src_).substr(pos, len));
    return cp.size() == 1 && text::is_space(cp[0]) ? len : 0;
  }

  size_t skip_spaces(size_t pos) const {
    while (size_t len = space_at(pos)) pos += len;
    return pos;
  }

  bool at(size_t pos, std::string_view s) const { return src_.compare(pos, s.size(), s) == 0; }

  // Whitespace control for the text before a tag: '-' strips all trailing
  // whitespace; otherwise lstrip_blocks removes the indentation of a line
  // that holds only a block or comment tag ('+' disables it).
  std::string strip_before_tag(std::string text, char sign, bool is_variable) const {
    if (sign == '-') return text::strip(text, std::nullopt, false, true);
    if (sign == '+' || is_variable) return text;
    size_t line_begin = text.rfind('\n');
    line_begin = line_begin == std::string::npos ? 0 : line_begin + 1;
    if (line_begin == 0 && !line_starting_) return text;
    if (line_begin < text.size() && skip_spaces_in(text, line_begin) == text.size()) text.resize(line_begin);
    return text;
  }

  static size_t skip_spaces_in(const std::string& s, size_t pos) {
    std::u32string tail = text::decode(std::string_view(s).substr(pos));
    size_t i = 0;
    while (i < tail.size() && text::is_space(tail[i])) ++i;
    return i == tail.size() ? s.size() : pos;
  }

  // `{% raw %}`: returns where the raw body starts, or kNone.
  size_t match_raw_begin(size_t pos) const {
    size_t p = skip_spaces(pos);
    if (!at(p, "raw")) return kNone;
    p = skip_spaces(p + 3);
    if (at(p, "-%}")) return skip_spaces(p + 3);
    if (at(p, "%}")) return p + 2;
    return kNone;
  }

  size_t lex_raw(size_t body, size_t tag_start) {
    for (size_t p = src_.find("{%", body); p != std::string::npos; p = src_.find("{%", p + 1)) {
      size_t q = p + 2;
      char sign = 0;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) sign = src_[q++];
      q = skip_spaces(q);
      if (!at(q, "endraw")) continue;
      q = skip_spaces(q + 6);
      size_t end;
      if (at(q, "+%}")) {
        end = q + 3;
      } else if (at(q, "-%}")) {
        end = skip_spaces(q + 3);
      } else if (at(q, "%}")) {
        end = q + 2 + (q + 2 < src_.size() && src_[q + 2] == '\n');
      } else {
        continue;
      }
      std::string data = strip_before_tag(src_.substr(body, p - body), sign, false);
      if (!data.empty()) push(TokenType::Text, std::move(data), body);
      line_starting_ = src_[end - 1] == '\n';
      return end;
    }
    fail("Missing end of raw directive", tag_start);
  }

  size_t lex_comment(size_t pos, size_t tag_start) {
    for (size_t p = pos; p < src_.size(); ++p) {
      size_t end = 0;
      if (at(p, "+#}")) {
        end = p + 3;
      } else if (at(p, "-#}")) {
        end = skip_spaces(p + 3);
      } else if (at(p, "#}")) {
        end = p + 2 + (p + 2 < src_.size() && src_[p + 2] == '\n');
      } else {
        continue;
      }
      line_starting_ = src_[end - 1] == '\n';
      return end;
    }
    fail("Missing end of comment tag", tag_start);
  }

  // End of a `%}` / `}}` tag at pos, with trim_blocks and '-' handling;
  // returns 0 when there is none.
  size_t match_tag_end(size_t pos, bool variable) const {
    if (variable) {
      if (at(pos, "-}}")) return skip_spaces(pos + 3);
      if (at(pos, "}}")) return pos + 2;
      return 0;
    }
    if (at(pos, "+%}")) return pos + 3;
    if (at(pos, "-%}")) return skip_spaces(pos + 3);
    if (at(pos, "%}")) return pos + 2 + (pos + 2 < src_.size() && src_[pos + 2] == '\n');
    return 0;
  }

  size_t lex_tag(size_t pos, size_t tag_start, bool variable) {
    push(variable ? TokenType::VarBegin : TokenType::BlockBegin, "", tag_start);
    std::vector<char> closers;  // the tag ends only where brackets balance
    const size_t n = src_.size();
    while (pos < n) {
      if (closers.empty()) {
        if (size_t end = match_tag_end(pos, variable)) {
          push(variable ? TokenType::VarEnd : TokenType::BlockEnd, "", pos);
          line_starting_ = src_[end - 1] == '\n';
          return end;
        }
      }
      if (space_at(pos)) {
        pos = skip_spaces(pos);
        continue;
      }
      char c = src_[pos];
      if (is_digit(c)) {
        pos = lex_number(pos);
      } else if (is_name_start(c)) {
        size_t end = pos;
        while (end < n && is_name_char(src_[end])) ++end;
        push(TokenType::Name, src_.substr(pos, end - pos), pos);
        pos = end;
      } else if (c == '\'' || c == '"') {
        pos = lex_string(pos);
      } else {
        pos = lex_operator(pos, closers);
      }
    }
    return n;  // unterminated tag: the parser reports the missing end
  }

  // Digits with single underscores between them ((\d+_)*\d+); returns end.
  size_t digit_run(size_t pos) const {
    size_t p = pos;
    if (p >= src_.size() || !is_digit(src_[p])) return pos;
    while (true) {
      while (p < src_.size() && is_digit(src_[p])) ++p;
      if (p + 1 < src_.size() && src_[p] == '_' && is_digit(src_[p + 1])) {
        ++p;
        continue;
      }
      return p;
    }
  }

  static std::string without_underscores(std::string_view s) {
    std::string out;
    for (char c : s)
      if (c != '_') out.push_back(c);
    return out;
  }

  size_t lex_number(size_t pos) {
    size_t int_end = digit_run(pos);
    bool after_dot = pos > 0 && src_[pos - 1] == '.';
    // Float: digits then a fraction, an exponent, or both.
    if (!after_dot) {
      size_t p = int_end;
      bool has_fraction = false;
      if (p < src_.size() && src_[p] == '.' && digit_run(p + 1) > p + 1) {
        p = digit_run(p + 1);
        has_fraction = true;
      }
      size_t e = p;
      bool has_exponent = false;
      if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
        size_t q = e + 1;
        if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
        if (digit_run(q) > q) {
          p = digit_run(q);
          has_exponent = true;
        }
      }
      if (has_fraction || has_exponent) {
        std::string literal = without_underscores(std::string_view(src_).substr(pos, p - pos));
        push(TokenType::Float, literal, pos).number = std::strtod(literal.c_str(), nullptr);
        return p;
      }
    }
    int base = 10;
    size_t digits_begin = pos, end = int_end;
    if (src_[pos] == '0' && pos + 1 < src_.size()) {
      char prefix = static_cast<char>(src_[pos + 1] | 0x20);
      auto valid = [&](char c) {
        c = static_cast<char>(c | 0x20);
        if (prefix == 'b') return c == '0' || c == '1';
        if (prefix == 'o') return c >= '0' && c <= '7';
        return is_digit(c) || (c >= 'a' && c <= 'f');
      };
      if (prefix == 'b' || prefix == 'o' || prefix == 'x') {
        size_t p = pos + 2;
        while (p < src_.size() && (valid(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() && valid(src_[p + 1]))))
          ++p;
        if (p > pos + 2) {
          base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : 16;
          digits_begin = pos + 2;
          end = p;
        }
      }
      if (base == 10) {  // a decimal literal starting with 0 may only hold zeros
        end = pos + 1;
        while (end < src_.size() && (src_[end] == '0' || (src_[end] == '_' && end + 1 < src_.size() &&
                                                          src_[end + 1] == '0')))
          ++end;
      }
    }
    std::string digits = without_underscores(std::string_view(src_).substr(digits_begin, end - digits_begin));
    errno = 0;
    long long value = std::strtoll(digits.c_str(), nullptr, base);
    if (errno == ERANGE) fail("integer literal too large: " + src_.substr(pos, end - pos), pos);
    push(TokenType::Integer, src_.substr(pos, end - pos), pos).integer = value;
    return end;
  }

  size_t lex_string(size_t pos) {
    char quote = src_[pos];
    size_t p = pos + 1;
    while (p < src_.size() && src_[p] != quote) p += src_[p] == '\\' ? 2 : 1;
    if (p >= src_.size()) fail("unterminated string literal", pos);
    push(TokenType::String, decode_escapes(std::string_view(src_).substr(pos + 1, p - pos - 1), pos), pos);
    return p + 1;
  }

  // Python's unicode-escape decoding, which Jinja applies to string literals.
  std::string decode_escapes(std::string_view s, size_t offset) const {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\\' || i + 1 >= s.size()) {
        out.push_back(s[i]);
        continue;
      }
      char c = s[++i];
      switch (c) {
        case '\n': break;  // line continuation
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'v': out.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          size_t width = c == 'x' ? 2 : c == 'u' ? 4 : 8;
          std::string hex(s.substr(i + 1, width));
          if (hex.size() != width || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
            fail("truncated \\" + std::string(1, c) + " escape", offset);
          text::append_utf8(out, static_cast<char32_t>(std::strtoul(hex.c_str(), nullptr, 16)));
          i += width;
          break;
        }
        default:
          if (c >= '0' && c <= '7') {
            unsigned value = 0;
            size_t k = 0;
            while (k < 3 && i + k < s.size() && s[i + k] >= '0' && s[i + k] <= '7') value = value * 8 + (s[i + k++] - '0');
            text::append_utf8(out, value);
            i += k - 1;
          } else {  // unknown escapes stay as written
            out.push_back('\\');
            out.push_back(c);
          }
      }
    }
    return out;
  }

  size_t lex_operator(size_t pos, std::vector<char>& closers) {
    static constexpr std::string_view two[] = {"//", "**", "==", "!=", ">=", "<="};
    for (auto op : two) {
      if (at(pos, op)) {
        push(TokenType::Operator, std::string(op), pos);
        return pos + 2;
      }
    }
    char c = src_[pos];
    if (std::string_view("+-/*%~[](){}=.:|,;<>").find(c) == std::string_view::npos)
      fail(std::string("unexpected char '") + c + "'", pos);
    if (c == '(' || c == '[' || c == '{') {
      closers.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (closers.empty()) fail(std::string("unexpected '") + c + "'", pos);
      if (closers.back() != c) fail(std::string("unexpected '") + c + "', expected '" + closers.back() + "'", pos);
      closers.pop_back();
    }
    push(TokenType::Operator, std::string(1, c), pos);
    return pos + 1;
  }
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace kiln::tmpl
