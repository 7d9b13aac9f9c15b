// Jinja's builtin tests (`x is defined`, `x is string`, ...), from
// jinja2/tests.py, with Python's notion of each type (a bool is a number,
// a str is iterable, an Undefined iterates as empty).
#include <algorithm>
#include <unordered_map>

#include "template/builtins.h"
#include "template/text.h"

namespace kiln::tmpl {
namespace {

using TestFn = bool (*)(const Value&, CallArgs&);

Value one_arg(CallArgs& call, const char* test) {
  Args a(call, test, {"other"});
  if (!a.has(0)) throw EvalFailure(std::string(test) + "() missing 1 required positional argument");
  return a[0];
}

int64_t int_value(const Value& v, const char* test) {
  if (v.is_int() || v.is_bool()) return v.to_int();
  if (v.is_undefined()) fail_undefined(v);
  throw EvalFailure(std::string("test '") + test + "' needs an integer, got '" + type_name(v) + "'");
}

bool t_defined(const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(const Value& v, CallArgs&) { return v.is_none(); }
bool t_string(const Value& v, CallArgs&) { return v.is_string(); }
bool t_mapping(const Value& v, CallArgs&) { return v.is_object(); }
bool t_number(const Value& v, CallArgs&) { return v.is_number(); }
bool t_integer(const Value& v, CallArgs&) { return v.is_int(); }
bool t_float(const Value& v, CallArgs&) { return v.is_float(); }
bool t_boolean(const Value& v, CallArgs&) { return v.is_bool(); }
bool t_true(const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }
bool t_false(const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }
bool t_callable(const Value& v, CallArgs&) { return v.is_callable(); }
bool t_escaped(const Value&, CallArgs&) { return false; }  // no Markup values exist here
bool t_iterable(const Value& v, CallArgs&) {
  return v.is_string() || v.is_array() || v.is_object() || v.is_undefined();
}
// Jinja: has len() and __getitem__ (Undefined defines both).
bool t_sequence(const Value& v, CallArgs&) {
  return v.is_string() || v.is_array() || v.is_object() || v.is_undefined();
}
bool t_lower(const Value& v, CallArgs&) {
  std::string s = to_str(v);
  return text::lower(s) == s && text::upper(s) != s;
}
bool t_upper(const Value& v, CallArgs&) {
  std::string s = to_str(v);
  return text::upper(s) == s && text::lower(s) != s;
}
bool t_odd(const Value& v, CallArgs&) { return int_value(v, "odd") % 2 != 0; }
bool t_even(const Value& v, CallArgs&) { return int_value(v, "even") % 2 == 0; }
bool t_divisibleby(const Value& v, CallArgs& call) {
  int64_t d = int_value(one_arg(call, "divisibleby"), "divisibleby");
  if (d == 0) throw EvalFailure("integer division or modulo by zero");
  int64_t m = int_value(v, "divisibleby") % d;
  return m == 0;
}
bool t_sameas(const Value& v, CallArgs& call) {
  Value other = one_arg(call, "sameas");
  if (v.storage().index() != other.storage().index()) return false;
  if (v.is_array()) return &v.as_array() == &other.as_array();
  if (v.is_object()) return &v.as_object() == &other.as_object();
  if (v.is_float() || v.is_string()) return false;  // distinct Python objects
  return equals(v, other);
}
bool t_in(const Value& v, CallArgs& call) { return contains(one_arg(call, "in"), v); }
bool t_eq(const Value& v, CallArgs& call) { return compare("==", v, one_arg(call, "eq")); }
bool t_ne(const Value& v, CallArgs& call) { return compare("!=", v, one_arg(call, "ne")); }
bool t_lt(const Value& v, CallArgs& call) { return compare("<", v, one_arg(call, "lt")); }
bool t_le(const Value& v, CallArgs& call) { return compare("<=", v, one_arg(call, "le")); }
bool t_gt(const Value& v, CallArgs& call) { return compare(">", v, one_arg(call, "gt")); }
bool t_ge(const Value& v, CallArgs& call) { return compare(">=", v, one_arg(call, "ge")); }
bool t_filter(const Value& v, CallArgs&) { return v.is_string() && has_filter(v.as_string()); }
bool t_test(const Value& v, CallArgs&) { return v.is_string() && has_test(v.as_string()); }

const std::unordered_map<std::string_view, TestFn>& test_table() {
  static const std::unordered_map<std::string_view, TestFn> table = {
      {"defined", t_defined},   {"undefined", t_undefined}, {"none", t_none},
      {"string", t_string},     {"mapping", t_mapping},     {"number", t_number},
      {"integer", t_integer},   {"float", t_float},         {"boolean", t_boolean},
      {"true", t_true},         {"false", t_false},         {"callable", t_callable},
      {"escaped", t_escaped},   {"iterable", t_iterable},   {"sequence", t_sequence},
      {"lower", t_lower},       {"upper", t_upper},         {"odd", t_odd},
      {"even", t_even},         {"divisibleby", t_divisibleby}, {"sameas", t_sameas},
      {"in", t_in},             {"==", t_eq},               {"eq", t_eq},
      {"equalto", t_eq},        {"!=", t_ne},               {"ne", t_ne},
      {"<", t_lt},              {"lt", t_lt},               {"lessthan", t_lt},
      {"<=", t_le},             {"le", t_le},               {">", t_gt},
      {"gt", t_gt},             {"greaterthan", t_gt},      {">=", t_ge},
      {"ge", t_ge},             {"filter", t_filter},       {"test", t_test},
  };
  return table;
}

}  // namespace

bool has_test(std::string_view name) { return test_table().count(name) > 0; }

bool apply_test(std::string_view name, const Value& input, CallArgs& args) {
  auto it = test_table().find(name);
  if (it == test_table().end()) throw EvalFailure("No test named '" + std::string(name) + "'.");
  return it->second(input, args);
}

}  // namespace kiln::tmpl
