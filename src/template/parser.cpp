#include "template/parser.h"

#include <initializer_list>

#include "template/lexer.h"
#include "template/template_error.h"

namespace kiln::tmpl {
namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Body parse() {
    Body body = subparse({});
    if (cur().type != TokenType::End) fail("unexpected " + describe(cur()));
    return body;
  }

 private:
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  std::vector<std::vector<std::string>> end_stack_;  // end tags of open blocks
  std::vector<std::string> tag_stack_;               // open block tags
  int loop_depth_ = 0;                               // for break/continue
  int nesting_ = 0;                                  // recursion guard

  // Deeply nested input must fail with a message, not overflow the stack.
  struct NestingGuard {
    Parser& parser;
    explicit NestingGuard(Parser& p) : parser(p) {
      if (++parser.nesting_ > 200) parser.fail("template nested too deeply");
    }
    ~NestingGuard() { --parser.nesting_; }
  };

  // ---- token stream ----
  const Token& cur() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
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
        s->expr = parse_tuple(true, {}, false);
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
      result->expr = parse_tuple(true, {}, false);
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
    s->expr = parse_tuple(false, {"recursive"}, false);
    if (skip_name("if")) s->condition = parse_expression(true);
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
      ExprPtr condition = parse_tuple(false, {}, false);
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
      s->expr = parse_tuple(true, {}, false);
      return s;
    }
    auto s = stmt(Stmt::Kind::SetBlock, at);
    s->target = std::move(target);
    if (is_op("|")) s->filters = parse_filter_chain(false);
    s->body = parse_statements({"endset"}, true);
    return s;
  }

  void parse_signature(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.params.empty()) expect_op(",");
      s.params.push_back(expect_name().text);
      if (skip_op("="))
        s.defaults.push_back(parse_expression(true));
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
    s->expr = parse_expression(true);
    if (s->expr->kind != Expr::Kind::Call) fail("expected call");
    s->body = parse_statements({"endcall"}, true);
    return s;
  }

  StmtPtr parse_filter_block() {
    auto s = stmt(Stmt::Kind::FilterBlock, next());
    s->filters = parse_filter_chain(true);
    s->body = parse_statements({"endfilter"}, true);
    return s;
  }

  StmtPtr parse_with() {
    auto s = stmt(Stmt::Kind::With, next());
    while (cur().type != TokenType::BlockEnd) {
      if (!s->assignments.empty()) expect_op(",");
      Target target = parse_assign_target({}, false);
      expect_op("=");
      s->assignments.emplace_back(std::move(target), parse_expression(true));
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
      if (is_tuple_end(extra_end)) break;
      tuple.items.push_back(parse_assign_single(with_namespace));
    }
    return tuple;
  }

  // ---- expressions ----
  bool is_tuple_end(const std::vector<std::string>& extra_end) const {
    const Token& t = cur();
    if (t.type == TokenType::VarEnd || t.type == TokenType::BlockEnd || t.type == TokenType::End) return true;
    if (t.type == TokenType::Operator && t.text == ")") return true;
    if (t.type == TokenType::Name)
      for (const auto& name : extra_end)
        if (t.text == name) return true;
    return false;
  }

  ExprPtr parse_tuple(bool with_condexpr, const std::vector<std::string>& extra_end, bool explicit_parens) {
    const Token& at = cur();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(","))
        is_tuple = true;
      else
        break;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) fail("Expected an expression, got " + describe(cur()));
    }
    auto e = node(Expr::Kind::Tuple, at);
    e->items = std::move(items);
    return e;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    NestingGuard guard(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      auto e = node(Expr::Kind::Cond, next());
      e->a = parse_or();
      e->b = std::move(expr);
      if (skip_name("else")) e->c = parse_condexpr();
      expr = std::move(e);
    }
    return expr;
  }

  ExprPtr parse_binary_chain(Expr::Kind kind, const char* keyword, ExprPtr (Parser::*operand)()) {
    ExprPtr left = (this->*operand)();
    while (is_name(keyword)) {
      auto e = node(kind, next());
      e->a = std::move(left);
      e->b = (this->*operand)();
      left = std::move(e);
    }
    return left;
  }
  ExprPtr parse_or() { return parse_binary_chain(Expr::Kind::Or, "or", &Parser::parse_and); }
  ExprPtr parse_and() { return parse_binary_chain(Expr::Kind::And, "and", &Parser::parse_not); }

  ExprPtr parse_not() {
    NestingGuard guard(*this);
    if (is_name("not")) {
      auto e = node(Expr::Kind::Not, next());
      e->a = parse_not();
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token& at = cur();
    ExprPtr first = parse_math1();
    std::vector<std::string> ops;
    std::vector<ExprPtr> operands;
    while (true) {
      const Token& t = cur();
      std::string op;
      if (t.type == TokenType::Operator &&
          (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" || t.text == "<=" || t.text == ">=")) {
        op = t.text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && look().type == TokenType::Name && look().text == "in") {
        op = "not in";
        next();
        next();
      } else {
        break;
      }
      ops.push_back(op);
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return first;
    auto e = node(Expr::Kind::Compare, at);
    e->items.push_back(std::move(first));
    for (auto& operand : operands) e->items.push_back(std::move(operand));
    e->ops = std::move(ops);
    return e;
  }

  ExprPtr parse_binary(std::initializer_list<const char*> operators, ExprPtr (Parser::*operand)()) {
    ExprPtr left = (this->*operand)();
    while (true) {
      bool matched = false;
      for (const char* op : operators) {
        if (is_op(op)) {
          auto e = node(Expr::Kind::Binary, next());
          e->name = op;
          e->a = std::move(left);
          e->b = (this->*operand)();
          left = std::move(e);
          matched = true;
          break;
        }
      }
      if (!matched) return left;
    }
  }
  ExprPtr parse_math1() { return parse_binary({"+", "-"}, &Parser::parse_concat); }
  ExprPtr parse_math2() { return parse_binary({"*", "/", "//", "%"}, &Parser::parse_pow); }
  ExprPtr parse_pow() { return parse_binary({"**"}, &Parser::parse_unary_filtered); }

  ExprPtr parse_concat() {
    const Token& at = cur();
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto e = node(Expr::Kind::Concat, at);
    e->items.push_back(std::move(first));
    while (skip_op("~")) e->items.push_back(parse_math2());
    return e;
  }

  ExprPtr parse_unary_filtered() { return parse_unary(true); }

  ExprPtr parse_unary(bool with_filter) {
    NestingGuard guard(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      Expr::Kind kind = is_op("-") ? Expr::Kind::Neg : Expr::Kind::Pos;
      e = node(kind, next());
      e->a = parse_unary(false);
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    switch (t.type) {
      case TokenType::Name: {
        next();
        auto e = node(Expr::Kind::Literal, t);
        if (t.text == "true" || t.text == "True") {
          e->literal = Value(true);
        } else if (t.text == "false" || t.text == "False") {
          e->literal = Value(false);
        } else if (t.text == "none" || t.text == "None") {
          e->literal = Value(nullptr);
        } else {
          e->kind = Expr::Kind::Name;
          e->name = t.text;
        }
        return e;
      }
      case TokenType::String: {
        auto e = node(Expr::Kind::Literal, t);
        std::string s;
        while (cur().type == TokenType::String) s += next().text;  // adjacent literals concatenate
        e->literal = Value(std::move(s));
        return e;
      }
      case TokenType::Integer:
      case TokenType::Float: {
        auto e = node(Expr::Kind::Literal, t);
        e->literal = t.type == TokenType::Integer ? Value(t.integer) : Value(t.number);
        next();
        return e;
      }
      case TokenType::Operator:
        if (t.text == "(") {
          next();
          ExprPtr e = parse_tuple(true, {}, true);
          expect_op(")");
          return e;
        }
        if (t.text == "[") return parse_list();
        if (t.text == "{") return parse_dict();
        break;
      default:
        break;
    }
    fail("unexpected " + describe(t));
  }

  ExprPtr parse_list() {
    auto e = node(Expr::Kind::List, next());
    while (!is_op("]")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op("]")) break;
      e->items.push_back(parse_expression(true));
    }
    expect_op("]");
    return e;
  }

  ExprPtr parse_dict() {
    auto e = node(Expr::Kind::Dict, next());
    while (!is_op("}")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op("}")) break;
      e->items.push_back(parse_expression(true));
      expect_op(":");
      e->items.push_back(parse_expression(true));
    }
    expect_op("}");
    return e;
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".") || is_op("["))
        e = parse_subscript(std::move(e));
      else if (is_op("("))
        e = parse_call(std::move(e));
      else
        return e;
    }
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        e = parse_filter(std::move(e));
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr target) {
    const Token& at = next();
    if (at.text == ".") {
      const Token& t = cur();
      if (t.type == TokenType::Name) {
        auto e = node(Expr::Kind::Attr, at);
        e->a = std::move(target);
        e->name = next().text;
        return e;
      }
      if (t.type != TokenType::Integer) fail("expected name or number");
      auto e = node(Expr::Kind::Item, at);
      e->a = std::move(target);
      e->b = node(Expr::Kind::Literal, t);
      e->b->literal = Value(t.integer);
      next();
      return e;
    }
    // '[': an index, a slice, or (rarely) a tuple index.
    std::vector<ExprPtr> args;
    ExprPtr slice;
    while (!is_op("]")) {
      if (!args.empty() || slice) expect_op(",");
      ExprPtr arg = parse_subscribed(at);
      if (arg->kind == Expr::Kind::Slice)
        slice = std::move(arg);
      else
        args.push_back(std::move(arg));
    }
    expect_op("]");
    if (slice) {
      if (!args.empty()) fail("a slice cannot be combined with other subscripts");
      slice->a = std::move(target);
      return slice;
    }
    if (args.empty()) fail_at("expected subscript expression", at);
    auto e = node(Expr::Kind::Item, at);
    e->a = std::move(target);
    if (args.size() == 1) {
      e->b = std::move(args[0]);
    } else {
      e->b = node(Expr::Kind::Tuple, at);
      e->b->items = std::move(args);
    }
    return e;
  }

  ExprPtr parse_subscribed(const Token& at) {
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (!is_op(":")) return start;
    }
    next();  // ':'
    auto slice = node(Expr::Kind::Slice, at);
    ExprPtr stop, step;
    if (!is_op(":") && !is_op("]") && !is_op(",")) stop = parse_expression(true);
    if (skip_op(":"))
      if (!is_op("]") && !is_op(",")) step = parse_expression(true);
    slice->items.push_back(std::move(start));
    slice->items.push_back(std::move(stop));
    slice->items.push_back(std::move(step));
    return slice;
  }

  void parse_call_args(Expr& e) {
    expect_op("(");
    bool require_comma = false;
    while (!is_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*") || is_op("**")) fail("*args and **kwargs in calls are not supported in chat templates");
      if (cur().type == TokenType::Name && look().type == TokenType::Operator && look().text == "=") {
        std::string key = next().text;
        next();
        e.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!e.kwargs.empty()) fail("invalid syntax for function call expression");
        e.items.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = node(Expr::Kind::Call, cur());
    e->a = std::move(callee);
    parse_call_args(*e);
    return e;
  }

  std::string parse_dotted_name() {
    std::string name = expect_name().text;
    while (skip_op(".")) name += "." + expect_name().text;
    return name;
  }

  ExprPtr parse_filter(ExprPtr input) {
    next();  // '|'
    auto e = node(Expr::Kind::Filter, cur());
    e->name = parse_dotted_name();
    if (is_op("(")) parse_call_args(*e);
    e->a = std::move(input);
    return e;
  }

  // `| f | g` chain with no input (for {% filter %} and {% set x | f %}).
  std::vector<ExprPtr> parse_filter_chain(bool start_inline) {
    std::vector<ExprPtr> chain;
    while (is_op("|") || start_inline) {
      if (!start_inline) next();
      start_inline = false;
      auto e = node(Expr::Kind::Filter, cur());
      e->name = parse_dotted_name();
      if (is_op("(")) parse_call_args(*e);
      chain.push_back(std::move(e));
    }
    return chain;
  }

  ExprPtr parse_test(ExprPtr subject) {
    const Token& at = next();  // 'is'
    bool negated = skip_name("not");
    auto e = node(Expr::Kind::Test, at);
    e->name = parse_dotted_name();
    e->a = std::move(subject);
    const Token& t = cur();
    bool starts_argument = t.type == TokenType::Name || t.type == TokenType::String ||
                           t.type == TokenType::Integer || t.type == TokenType::Float ||
                           (t.type == TokenType::Operator && (t.text == "(" || t.text == "[" || t.text == "{"));
    if (is_op("(")) {
      parse_call_args(*e);
    } else if (starts_argument && !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail("You cannot chain multiple tests with is");
      e->items.push_back(parse_postfix(parse_primary()));
    }
    if (!negated) return e;
    auto n = node(Expr::Kind::Not, at);
    n->a = std::move(e);
    return n;
  }
};

}  // namespace

Body parse_template(std::string_view source) { return Parser(tokenize(source)).parse(); }

}  // namespace kiln::tmpl
