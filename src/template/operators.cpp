// Python's arithmetic, comparison and membership operators over Values.
#include <cmath>

#include "template/builtins.h"

namespace kiln::tmpl {
namespace {

[[noreturn]] void unsupported(std::string_view op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_string() && op == "+")
    throw EvalFailure("can only concatenate str (not \"" + type_name(b) + "\") to str");
  if (a.is_array() && op == "+")
    throw EvalFailure("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " + type_name(a));
  throw EvalFailure("unsupported operand type(s) for " + std::string(op) + ": '" + type_name(a) + "' and '" +
                    type_name(b) + "'");
}

// Integer ops with Python's unbounded ints would overflow int64 here; fail instead.
template <typename Op>
int64_t checked(Op op, int64_t x, int64_t y) {
  int64_t result;
  if (op(x, y, &result)) throw EvalFailure("integer overflow");
  return result;
}
bool add_overflows(int64_t x, int64_t y, int64_t* r) { return __builtin_add_overflow(x, y, r); }
bool sub_overflows(int64_t x, int64_t y, int64_t* r) { return __builtin_sub_overflow(x, y, r); }
bool mul_overflows(int64_t x, int64_t y, int64_t* r) { return __builtin_mul_overflow(x, y, r); }

Value repeat(const Value& seq, int64_t times) {
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += seq.as_string();
    return Value(std::move(out));
  }
  std::vector<Value> out;
  for (int64_t i = 0; i < times; ++i)
    out.insert(out.end(), seq.as_array().items.begin(), seq.as_array().items.end());
  return seq.as_array().is_tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

double floor_mod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

Value arithmetic(std::string_view op, const Value& a, const Value& b) {
  bool use_float = a.is_float() || b.is_float();
  if (op == "/") {
    if (b.to_double() == 0) throw EvalFailure("division by zero");
    return Value(a.to_double() / b.to_double());
  }
  if (use_float) {
    double x = a.to_double(), y = b.to_double();
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (op == "**") return Value(std::pow(x, y));
    if (y == 0) throw EvalFailure(op == "//" ? "float floor division by zero" : "float modulo");
    if (op == "//") return Value(std::floor(x / y));
    return Value(floor_mod(x, y));
  }
  int64_t x = a.to_int(), y = b.to_int();
  if (op == "+") return Value(checked(add_overflows, x, y));
  if (op == "-") return Value(checked(sub_overflows, x, y));
  if (op == "*") return Value(checked(mul_overflows, x, y));
  if (op == "**") {
    if (y < 0) return Value(std::pow(static_cast<double>(x), static_cast<double>(y)));
    int64_t result = 1, base = x;
    for (int64_t e = y; e > 0;) {  // square-and-multiply; every squared base is used later
      if (e & 1) result = checked(mul_overflows, result, base);
      e >>= 1;
      if (e) base = checked(mul_overflows, base, base);
    }
    return Value(result);
  }
  if (y == 0) throw EvalFailure("integer division or modulo by zero");
  int64_t q = x / y, m = x % y;
  if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors toward negative infinity
    q -= 1;
    m += y;
  }
  return op == "//" ? Value(q) : Value(m);
}

}  // namespace

Value binary_op(std::string_view op, const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return arithmetic(op, a, b);
  if (op == "+") {
    if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
    if (a.is_array() && b.is_array() && a.as_array().is_tuple == b.as_array().is_tuple) {
      std::vector<Value> items = a.as_array().items;
      items.insert(items.end(), b.as_array().items.begin(), b.as_array().items.end());
      return a.as_array().is_tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
    }
  }
  if (op == "*") {
    if ((a.is_string() || a.is_array()) && (b.is_int() || b.is_bool())) return repeat(a, b.to_int());
    if ((b.is_string() || b.is_array()) && (a.is_int() || a.is_bool())) return repeat(b, a.to_int());
  }
  if (op == "%" && a.is_string()) throw EvalFailure("printf-style string formatting is not supported");
  unsupported(op, a, b);
}

Value negate(const Value& v) {
  if (v.is_float()) return Value(-v.as_float());
  if (v.is_int() || v.is_bool()) return Value(checked(sub_overflows, 0, v.to_int()));
  if (v.is_undefined()) fail_undefined(v);
  throw EvalFailure("bad operand type for unary -: '" + type_name(v) + "'");
}

bool compare(std::string_view op, const Value& a, const Value& b) {
  if (op == "==") return equals(a, b);
  if (op == "!=") return !equals(a, b);
  if (op == "<") return less_than(a, b);
  if (op == ">") return less_than(b, a);
  if (op == "<=") return less_than(a, b) || equals(a, b);
  if (op == ">=") return less_than(b, a) || equals(a, b);
  if (op == "in") return contains(b, a);
  if (op == "not in") return !contains(b, a);
  throw EvalFailure("unknown comparison operator " + std::string(op));
}

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string())
      throw EvalFailure("'in <string>' requires string as left operand, not " + type_name(item));
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_object()) return item.is_string() && container.as_object().find(item.as_string()) != nullptr;
  if (container.is_array()) {
    for (const Value& v : container.as_array().items)
      if (equals(v, item)) return true;
    return false;
  }
  if (container.is_undefined()) return false;  // iterates as empty
  throw EvalFailure("argument of type '" + type_name(container) + "' is not iterable");
}

}  // namespace kiln::tmpl
