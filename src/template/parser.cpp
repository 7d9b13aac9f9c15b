#include "template/parser.h"

#include "template/expression_parser.h"

namespace kiln::tmpl {
namespace {

// Statements ({% ... %} tags) and the template body; expressions are
// delegated to ExpressionParser, which shares the token cursor.
class Parser : TokenCursor {
 public:
  explicit Parser(std::vector<Token> tokens) : TokenCursor(state_), exprs_(state_) {
    state_.tokens = std::move(tokens);
  }

  Body parse() {
    Body body = subparse({});
    if (cur().type != TokenType::End) fail("unexpected " + describe(cur()));
    return body;
  }

 private:
  TokenState state_;
  ExpressionParser exprs_;
  std::vector<std::vector<std::string>> end_stack_;  // end tags of open blocks
  std::vector<std::string> tag_stack_;               // open block tags
  int loop_depth_ = 0;                               // for break/continue

  StmtPtr stmt(Stmt::Kind kind, const Token& at) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = at.line;
    s->column = at.column;
    return s;
  }

  // ---- statements ----
  Body subparse(const std::vector<std::string>& end_tags) {
    Body body;
    if (!end_tags.empty()) end_stack_.push_back(end_tags);
    while (cur().type != TokenType::End) {
      const Token& t = cur();
      if (t.type == TokenType::Text) {
        auto s = stmt(Stmt::Kind::Text, t);
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == TokenType::VarBegin) {
        next();
        auto s = stmt(Stmt::Kind::Print, cur());
        s->expr = exprs_.parse_tuple(true, {}, false);
        expect_type(TokenType::VarEnd, "end of print statement");
        body.push_back(std::move(s));
      } else if (t.type == TokenType::BlockBegin) {
        next();
        if (cur().type == TokenType::Name) {
          for (const auto& tag : end_tags) {
            if (cur().text == tag) {
              end_stack_.pop_back();
              return body;
            }
          }
        }
        body.push_back(parse_statement());
        expect_type(TokenType::BlockEnd, "end of statement block");
      } else {
        fail("unexpected " + describe(t));
      }
    }
    if (!end_tags.empty()) end_stack_.pop_back();
    return body;
  }

  [[noreturn]] void fail_unclosed(const std::string* unknown_tag) {
    std::string message = unknown_tag ? "Encountered unknown tag '" + *unknown_tag + "'." : "Unexpected end of template.";
    if (!end_stack_.empty()) {
      std::string expected;
      const auto& tags = end_stack_.back();
      for (size_t i = 0; i < tags.size(); ++i)
        expected += (i == 0 ? "" : i + 1 == tags.size() ? " or " : ", ") + ("'" + tags[i] + "'");
      message += " Jinja was looking for the following tags: " + expected + ".";
    }
    if (!tag_stack_.empty())
      message += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
    fail(message);
  }

  Body parse_statements(const std::vector<std::string>& end_tags, bool drop_needle) {
    skip_op(":");
    expect_type(TokenType::BlockEnd, "end of statement block");
    Body body = subparse(end_tags);
    if (cur().type == TokenType::End) {
      end_stack_.push_back(end_tags);  // name what the open block was waiting for
      fail_unclosed(nullptr);
    }
    if (drop_needle) next();
    return body;
  }

  StmtPtr parse_statement() {
    NestingGuard guard(*this);
    const Token& t = cur();
    if (t.type != TokenType::Name) fail("tag name expected");
    const std::string tag = t.text;
    static const std::initializer_list<const char*> unsupported = {"block", "extends", "include", "import",
                                                                   "from", "autoescape", "do"};
    for (const char* name : unsupported)
      if (tag == name) fail("the '" + tag + "' tag is not supported in chat templates");
    tag_stack_.push_back(tag);
    StmtPtr result;
    if (tag == "for") {
      result = parse_for();
    } else if (tag == "if") {
      result = parse_if();
    } else if (tag == "set") {
      result = parse_set();
    } else if (tag == "macro") {
      result = parse_macro();
    } else if (tag == "call") {
      result = parse_call_block();
    } else if (tag == "filter") {
      result = parse_filter_block();
    } else if (tag == "with") {
      result = parse_with();
    } else if (tag == "print") {
      result = stmt(Stmt::Kind::Print, next());
      result->expr = exprs_.parse_tuple(true, {}, false);
    } else if (tag == "generation") {  // transformers' assistant-mask tag: renders its body
      result = stmt(Stmt::Kind::Scope, next());
      result->body = parse_statements({"endgeneration"}, true);
    } else if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail("'" + tag + "' outside of a loop");
      result = stmt(tag == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, next());
    } else {
      tag_stack_.pop_back();
      fail_unclosed(&tag);
    }
    tag_stack_.pop_back();
    return result;
  }

  StmtPtr parse_for() {
    auto s = stmt(Stmt::Kind::For, next());
    s->target = parse_assign_target({"in"}, false);
    if (!skip_name("in")) fail("expected 'in', got " + describe(cur()));
    s->expr = exprs_.parse_tuple(false, {"recursive"}, false);
    if (skip_name("if")) s->condition = exprs_.parse_expression(true);
    if (is_name("recursive")) fail("recursive for loops are not supported in chat templates");
    ++loop_depth_;
    s->body = parse_statements({"endfor", "else"}, false);
    --loop_depth_;
    if (next().text != "endfor") s->else_body = parse_statements({"endfor"}, true);
    return s;
  }

  StmtPtr parse_if() {
    auto s = stmt(Stmt::Kind::If, next());
    while (true) {
      ExprPtr condition = exprs_.parse_tuple(false, {}, false);
      Body body = parse_statements({"elif", "else", "endif"}, false);
      s->branches.emplace_back(std::move(condition), std::move(body));
      const Token& t = next();
      if (t.text == "elif") continue;
      if (t.text == "else") s->else_body = parse_statements({"endif"}, true);
      break;
    }
    return s;
  }

  StmtPtr parse_set() {
    const Token& at = next();
    Target target = parse_assign_target({}, true);
    if (skip_op("=")) {
      auto s = stmt(Stmt::Kind::Set, at);
      s->target = std::move(target);
      s->expr = exprs_.parse_tuple(true, {}, false);
      return s;
    }
    auto s = stmt(Stmt::Kind::SetBlock, at);
    s->target = std::move(target);
    if (is_op("|")) s->filters = exprs_.parse_filter_chain(false);
    s->body = parse_statements({"endset"}, true);
    return s;
  }

  void parse_signature(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.params.empty()) expect_op(",");
      s.params.push_back(expect_name().text);
      if (skip_op("="))
        s.defaults.push_back(exprs_.parse_expression(true));
      else if (!s.defaults.empty())
        fail("non-default argument follows default argument");
    }
    expect_op(")");
  }

  StmtPtr parse_macro() {
    auto s = stmt(Stmt::Kind::Macro, next());
    s->name = expect_name().text;
    parse_signature(*s);
    int saved_depth = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_statements({"endmacro"}, true);
    loop_depth_ = saved_depth;
    return s;
  }

  StmtPtr parse_call_block() {
    auto s = stmt(Stmt::Kind::CallBlock, next());
    s->name = "caller";  // the body becomes a macro passed as `caller`
    if (is_op("(")) parse_signature(*s);
    s->expr = exprs_.parse_expression(true);
    if (s->expr->kind != Expr::Kind::Call) fail("expected call");
    s->body = parse_statements({"endcall"}, true);
    return s;
  }

  StmtPtr parse_filter_block() {
    auto s = stmt(Stmt::Kind::FilterBlock, next());
    s->filters = exprs_.parse_filter_chain(true);
    s->body = parse_statements({"endfilter"}, true);
    return s;
  }

  StmtPtr parse_with() {
    auto s = stmt(Stmt::Kind::With, next());
    while (cur().type != TokenType::BlockEnd) {
      if (!s->assignments.empty()) expect_op(",");
      Target target = parse_assign_target({}, false);
      expect_op("=");
      s->assignments.emplace_back(std::move(target), exprs_.parse_expression(true));
    }
    s->body = parse_statements({"endwith"}, true);
    return s;
  }

  Target parse_assign_single(bool with_namespace) {
    if (skip_op("(")) {
      Target t = parse_assign_target({}, with_namespace);
      expect_op(")");
      return t;
    }
    const Token& t = cur();
    if (t.type != TokenType::Name) fail("can't assign to " + describe(t));
    for (const char* constant : {"true", "false", "True", "False", "none", "None"})
      if (t.text == constant) fail("can't assign to 'const'");
    next();
    Target target;
    target.name = t.text;
    if (with_namespace && is_op(".")) {
      next();
      target.kind = Target::Kind::NamespaceAttr;
      target.attr = expect_name().text;
    }
    return target;
  }

  Target parse_assign_target(const std::vector<std::string>& extra_end, bool with_namespace) {
    Target first = parse_assign_single(with_namespace);
    if (!is_op(",")) return first;
    Target tuple;
    tuple.kind = Target::Kind::Tuple;
    tuple.items.push_back(std::move(first));
    while (skip_op(",")) {
      if (exprs_.is_tuple_end(extra_end)) break;
      tuple.items.push_back(parse_assign_single(with_namespace));
    }
    return tuple;
  }
};

}  // namespace

Body parse_template(std::string_view source) { return Parser(tokenize(source)).parse(); }

}  // namespace kiln::tmpl
