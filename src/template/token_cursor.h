#pragma once
// Token access shared by the statement and expression parsers: one cursor
// over the token list, Jinja's token descriptions for error messages, and
// the recursion guard that turns absurdly nested input into an error.
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "template/ast.h"
#include "template/lexer.h"
#include "template/template_error.h"

namespace kiln::tmpl {

struct TokenState {
  std::vector<Token> tokens;
  size_t pos = 0;
  int nesting = 0;
};

class TokenCursor {
 protected:
  explicit TokenCursor(TokenState& state) : s_(state) {}

  // Deeply nested input must fail with a message, not overflow the stack.
  struct NestingGuard {
    TokenCursor& cursor;
    explicit NestingGuard(TokenCursor& c) : cursor(c) {
      if (++cursor.s_.nesting > 200) cursor.fail("template nested too deeply");
    }
    ~NestingGuard() { --cursor.s_.nesting; }
  };

  const Token& cur() const { return s_.tokens[s_.pos]; }
  const Token& look() const { return s_.tokens[std::min(s_.pos + 1, s_.tokens.size() - 1)]; }
  const Token& next() {
    const Token& t = s_.tokens[s_.pos];
    if (s_.pos + 1 < s_.tokens.size()) ++s_.pos;
    return t;
  }
  bool is_op(std::string_view op) const { return cur().type == TokenType::Operator && cur().text == op; }
  bool is_name(std::string_view name) const { return cur().type == TokenType::Name && cur().text == name; }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case TokenType::Text: return "template data";
      case TokenType::VarBegin: return "begin of print statement";
      case TokenType::VarEnd: return "end of print statement";
      case TokenType::BlockBegin: return "begin of statement block";
      case TokenType::BlockEnd: return "end of statement block";
      case TokenType::Name: return "'" + t.text + "'";
      case TokenType::String: return "string";
      case TokenType::Integer: return "integer";
      case TokenType::Float: return "float";
      case TokenType::Operator: return "'" + t.text + "'";
      default: return "end of template";
    }
  }

  [[noreturn]] void fail(const std::string& message) const { fail_at(message, cur()); }
  [[noreturn]] static void fail_at(const std::string& message, const Token& t) {
    throw TemplateError(message, t.line, t.column);
  }

  void expect_op(std::string_view op) {
    if (!skip_op(op)) fail("expected '" + std::string(op) + "', got " + describe(cur()));
  }
  void expect_type(TokenType type, const char* what) {
    if (cur().type != type) fail(std::string("expected ") + what + ", got " + describe(cur()));
    next();
  }
  const Token& expect_name() {
    if (cur().type != TokenType::Name) fail("expected a name, got " + describe(cur()));
    return next();
  }

  ExprPtr node(Expr::Kind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }

  TokenState& s_;
};

}  // namespace kiln::tmpl
