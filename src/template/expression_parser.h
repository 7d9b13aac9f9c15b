#pragma once
// Expressions, with the precedence of Jinja's parser: conditional, or, and,
// not, comparisons, + -, ~, * / // %, **, unary - +, then postfix access,
// calls, filters and tests (which bind tighter than any binary operator).
#include <initializer_list>

#include "template/token_cursor.h"

namespace kiln::tmpl {

class ExpressionParser : protected TokenCursor {
 public:
  explicit ExpressionParser(TokenState& state) : TokenCursor(state) {}

  // A comma-separated list becomes a Tuple; stops at the tag end, ')' or a
  // name in `extra_end`.
  ExprPtr parse_tuple(bool with_condexpr, const std::vector<std::string>& extra_end, bool explicit_parens);
  ExprPtr parse_expression(bool with_condexpr);
  // `| f | g(x)` with no input, for {% filter %} and {% set x | f %}.
  std::vector<ExprPtr> parse_filter_chain(bool start_inline);
  bool is_tuple_end(const std::vector<std::string>& extra_end) const;

 private:
  using Operand = ExprPtr (ExpressionParser::*)();  // the next-tighter precedence level

  ExprPtr parse_condexpr();
  ExprPtr parse_binary_chain(Expr::Kind kind, const char* keyword, Operand operand);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_binary(std::initializer_list<const char*> operators, Operand operand);
  ExprPtr parse_math1();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_concat();
  ExprPtr parse_unary_filtered();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_filter_expr(ExprPtr e);
  ExprPtr parse_subscript(ExprPtr target);
  ExprPtr parse_subscribed(const Token& at);
  void parse_call_args(Expr& e);
  ExprPtr parse_call(ExprPtr callee);
  std::string parse_dotted_name();
  ExprPtr parse_filter(ExprPtr input);
  ExprPtr parse_test(ExprPtr subject);
};

}  // namespace kiln::tmpl
