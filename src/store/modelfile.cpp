#include "store/modelfile.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "store/name.h"
#include "store/parameters.h"

namespace kiln::store {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_newline(char c) { return c == '\n' || c == '\r'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_param_char(char c) { return is_alpha(c) || (c >= '0' && c <= '9') || c == '_'; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  return s.size() > 40 ? out + "..." : out;
}

[[noreturn]] void fail(int line, const std::string& msg) {
  throw Error("(line " + std::to_string(line) + "): " + msg);
}

// A cursor over the text that counts lines.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : s_(text) {}
  bool done() const { return pos_ >= s_.size(); }
  char peek(size_t ahead = 0) const { return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : '\0'; }
  bool starts_with(std::string_view p) const { return s_.substr(pos_, p.size()) == p; }
  int line() const { return line_; }
  void advance(size_t n = 1) {
    for (size_t i = 0; i < n && pos_ < s_.size(); ++i) {
      // "\r\n" counts once, a lone '\r' (old Mac files) once.
      if (s_[pos_] == '\n' || (s_[pos_] == '\r' && peek(1) != '\n')) ++line_;
      ++pos_;
    }
  }
  void skip_blanks() {
    while (!done() && is_blank(peek())) advance();
  }
  std::string_view take_while(bool (*pred)(char)) {
    size_t start = pos_;
    while (!done() && pred(peek())) advance();
    return s_.substr(start, pos_ - start);
  }
  // Rest of the current line (newline not consumed).
  std::string_view take_line() {
    size_t start = pos_;
    while (!done() && !is_newline(peek())) advance();
    return s_.substr(start, pos_ - start);
  }
  // Text up to the first `quote` that ends the value: the one followed by a
  // blank, a newline or the end (Ollama's rule, so a value may contain quotes).
  std::optional<std::string_view> take_quoted(std::string_view quote) {
    size_t start = pos_;
    for (size_t i = pos_; i + quote.size() <= s_.size(); ++i) {
      if (s_.compare(i, quote.size(), quote) != 0) continue;
      size_t after = i + quote.size();
      if (after == s_.size() || is_blank(s_[after]) || is_newline(s_[after])) {
        advance(after - pos_);
        return s_.substr(start, i - start);
      }
    }
    return std::nullopt;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
  int line_ = 1;
};

std::string strip_trailing_blanks(std::string_view s) {
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

// Reads an instruction's value: """multi-line""", "quoted" or the rest of the line.
std::string read_value(Cursor& c, int line, const std::string& what) {
  std::string value;
  if (c.starts_with("\"\"\"")) {
    c.advance(3);
    auto body = c.take_quoted("\"\"\"");
    if (!body) fail(line, what + ": unterminated \"\"\" string");
    value = std::string(*body);
  } else if (c.peek() == '"') {
    c.advance(1);
    auto body = c.take_quoted("\"");
    if (!body) fail(line, what + ": unterminated \" string");
    value = std::string(*body);
  } else {
    value = strip_trailing_blanks(c.take_line());
    if (value.empty()) fail(line, what + " needs a value");
    return value;
  }
  c.skip_blanks();
  if (!c.done() && !is_newline(c.peek()))
    fail(c.line(), what + ": unexpected text after the closing quote: " + shown(c.take_line()));
  return value;
}

const char* kInstructions = "FROM, PARAMETER, TEMPLATE, SYSTEM, LICENSE or MESSAGE";

}  // namespace

Modelfile Modelfile::parse(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 byte order mark
  Modelfile mf;
  Cursor c(text);
  for (;;) {
    while (!c.done() && (is_blank(c.peek()) || is_newline(c.peek()))) c.advance();
    if (c.done()) break;
    const int line = c.line();
    if (c.peek() == '#') {
      c.take_line();
      continue;
    }
    const std::string word(c.take_while(is_alpha));
    const std::string instr = lower(word);
    const bool known = instr == "from" || instr == "parameter" || instr == "template" || instr == "system" ||
                       instr == "license" || instr == "message";
    if (!known) {
      if (instr == "adapter" || instr == "draft" || instr == "renderer" || instr == "parser" || instr == "requires")
        fail(line, word + " is not supported by kiln (expected " + kInstructions + ")");
      const std::string got = word.empty() ? shown(c.take_line()) : word;
      fail(line, "unknown instruction \"" + got + "\" (expected " + kInstructions + ")");
    }
    const std::string upper_word = [&] {
      std::string u = instr;
      for (char& ch : u) ch = static_cast<char>(ch - 'a' + 'A');
      return u;
    }();
    if (!c.done() && !is_blank(c.peek()) && !is_newline(c.peek()))
      fail(line, "unknown instruction \"" + word + shown(c.take_line()) + "\" (expected " + kInstructions + ")");
    c.skip_blanks();
    if (c.done() || is_newline(c.peek())) fail(line, upper_word + " needs a value");

    if (instr == "from") {
      if (!mf.from.empty()) fail(line, "more than one FROM (the first is on line " + std::to_string(mf.from_line) + ")");
      mf.from = read_value(c, line, "FROM");
      mf.from_line = line;
    } else if (instr == "template") {
      mf.template_text = read_value(c, line, "TEMPLATE");
    } else if (instr == "system") {
      mf.system = read_value(c, line, "SYSTEM");
    } else if (instr == "license") {
      mf.licenses.push_back(read_value(c, line, "LICENSE"));
    } else if (instr == "message") {
      const std::string role(c.take_while(is_alpha));
      if (role != "system" && role != "user" && role != "assistant")
        fail(line, "message role must be one of \"system\", \"user\", or \"assistant\" (got \"" +
                       shown(role.empty() ? c.take_line() : std::string_view(role)) + "\")");
      if (!is_blank(c.peek())) fail(line, "MESSAGE needs a role and a content");
      c.skip_blanks();
      if (c.done() || is_newline(c.peek())) fail(line, "MESSAGE " + role + " needs a content");
      mf.messages.push_back({role, read_value(c, line, "MESSAGE")});
    } else {  // parameter
      const std::string name = lower(c.take_while(is_param_char));
      if (name.empty() || !is_blank(c.peek())) fail(line, "PARAMETER needs a name and a value");
      c.skip_blanks();
      if (c.done() || is_newline(c.peek())) fail(line, "PARAMETER " + name + " needs a value");
      const std::string value = read_value(c, line, "PARAMETER " + name);
      if (is_deprecated_param(name)) {
        mf.warnings.push_back("parameter " + name + " is deprecated and ignored (line " + std::to_string(line) + ")");
        continue;
      }
      const ParamSpec* spec = find_param(name);
      if (!spec) fail(line, "unknown parameter '" + name + "'");
      try {
        set_param(mf.parameters, *spec, parse_param_value(*spec, value));
      } catch (const Error& e) {
        fail(line, e.what());
      }
    }
  }
  if (mf.from.empty()) throw Error("no FROM line");
  return mf;
}

Modelfile Modelfile::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open Modelfile " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return parse(ss.str());
  } catch (const Error& e) {
    throw Error(path.string() + " " + e.what());
  }
}

std::string modelfile_quote(std::string_view v) {
  const bool plain = !v.empty() && v.find('\n') == std::string_view::npos && v.find('\r') == std::string_view::npos &&
                     !is_blank(v.front()) && !is_blank(v.back()) && v.front() != '"';
  if (plain) return std::string(v);
  // A closing quote is the first one followed by whitespace or the end, so
  // the value must not contain that pattern.
  auto safe_inside = [&](std::string_view q) {
    for (size_t i = v.find(q); i != std::string_view::npos; i = v.find(q, i + 1)) {
      size_t after = i + q.size();
      if (after == v.size() || is_blank(v[after]) || is_newline(v[after])) return false;
    }
    return true;
  };
  auto wrap = [&](std::string_view q) {
    std::string out;
    out.reserve(v.size() + 2 * q.size());
    out.append(q).append(v).append(q);
    return out;
  };
  if (safe_inside("\"\"\"")) return wrap("\"\"\"");
  if (safe_inside("\"")) return wrap("\"");
  return wrap("\"\"\"");  // cannot round-trip exactly; Ollama has the same limit
}

}  // namespace kiln::store
