#include "template/expression_parser.h"

namespace kiln::tmpl {

bool ExpressionParser::is_tuple_end(const std::vector<std::string>& extra_end) const {
  const Token& t = cur();
  if (t.type == TokenType::VarEnd || t.type == TokenType::BlockEnd || t.type == TokenType::End) return true;
  if (t.type == TokenType::Operator && t.text == ")") return true;
  if (t.type == TokenType::Name)
    for (const auto& name : extra_end)
      if (t.text == name) return true;
  return false;
}

ExprPtr ExpressionParser::parse_tuple(bool with_condexpr, const std::vector<std::string>& extra_end,
                                      bool explicit_parens) {
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

ExprPtr ExpressionParser::parse_expression(bool with_condexpr) {
  NestingGuard guard(*this);
  return with_condexpr ? parse_condexpr() : parse_or();
}

ExprPtr ExpressionParser::parse_condexpr() {
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

ExprPtr ExpressionParser::parse_binary_chain(Expr::Kind kind, const char* keyword, Operand operand) {
  ExprPtr left = (this->*operand)();
  while (is_name(keyword)) {
    auto e = node(kind, next());
    e->a = std::move(left);
    e->b = (this->*operand)();
    left = std::move(e);
  }
  return left;
}
ExprPtr ExpressionParser::parse_or() { return parse_binary_chain(Expr::Kind::Or, "or", &ExpressionParser::parse_and); }
ExprPtr ExpressionParser::parse_and() { return parse_binary_chain(Expr::Kind::And, "and", &ExpressionParser::parse_not); }

ExprPtr ExpressionParser::parse_not() {
  NestingGuard guard(*this);
  if (is_name("not")) {
    auto e = node(Expr::Kind::Not, next());
    e->a = parse_not();
    return e;
  }
  return parse_compare();
}

ExprPtr ExpressionParser::parse_compare() {
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

ExprPtr ExpressionParser::parse_binary(std::initializer_list<const char*> operators, Operand operand) {
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
ExprPtr ExpressionParser::parse_math1() { return parse_binary({"+", "-"}, &ExpressionParser::parse_concat); }
ExprPtr ExpressionParser::parse_math2() { return parse_binary({"*", "/", "//", "%"}, &ExpressionParser::parse_pow); }
ExprPtr ExpressionParser::parse_pow() { return parse_binary({"**"}, &ExpressionParser::parse_unary_filtered); }

ExprPtr ExpressionParser::parse_concat() {
  const Token& at = cur();
  ExprPtr first = parse_math2();
  if (!is_op("~")) return first;
  auto e = node(Expr::Kind::Concat, at);
  e->items.push_back(std::move(first));
  while (skip_op("~")) e->items.push_back(parse_math2());
  return e;
}

ExprPtr ExpressionParser::parse_unary_filtered() { return parse_unary(true); }

ExprPtr ExpressionParser::parse_unary(bool with_filter) {
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

ExprPtr ExpressionParser::parse_primary() {
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

ExprPtr ExpressionParser::parse_list() {
  auto e = node(Expr::Kind::List, next());
  while (!is_op("]")) {
    if (!e->items.empty()) expect_op(",");
    if (is_op("]")) break;
    e->items.push_back(parse_expression(true));
  }
  expect_op("]");
  return e;
}

ExprPtr ExpressionParser::parse_dict() {
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

ExprPtr ExpressionParser::parse_postfix(ExprPtr e) {
  while (true) {
    if (is_op(".") || is_op("["))
      e = parse_subscript(std::move(e));
    else if (is_op("("))
      e = parse_call(std::move(e));
    else
      return e;
  }
}

ExprPtr ExpressionParser::parse_filter_expr(ExprPtr e) {
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

ExprPtr ExpressionParser::parse_subscript(ExprPtr target) {
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

ExprPtr ExpressionParser::parse_subscribed(const Token& at) {
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

void ExpressionParser::parse_call_args(Expr& e) {
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

ExprPtr ExpressionParser::parse_call(ExprPtr callee) {
  auto e = node(Expr::Kind::Call, cur());
  e->a = std::move(callee);
  parse_call_args(*e);
  return e;
}

std::string ExpressionParser::parse_dotted_name() {
  std::string name = expect_name().text;
  while (skip_op(".")) name += "." + expect_name().text;
  return name;
}

ExprPtr ExpressionParser::parse_filter(ExprPtr input) {
  next();  // '|'
  auto e = node(Expr::Kind::Filter, cur());
  e->name = parse_dotted_name();
  if (is_op("(")) parse_call_args(*e);
  e->a = std::move(input);
  return e;
}

// `| f | g` chain with no input (for {% filter %} and {% set x | f %}).
std::vector<ExprPtr> ExpressionParser::parse_filter_chain(bool start_inline) {
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

ExprPtr ExpressionParser::parse_test(ExprPtr subject) {
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

}  // namespace kiln::tmpl
