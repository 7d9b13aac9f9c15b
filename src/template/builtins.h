#pragma once
// What a template can reach besides its own syntax: attribute and item
// access with Jinja's sandboxed lookup rules, the methods of str/dict/list,
// filters, tests, the JSON encoder behind `tojson`, and the global functions
// transformers provides (range, dict, namespace, raise_exception,
// strftime_now). All failures throw EvalFailure; the evaluator adds the
// template position.
#include <ctime>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "template/value.h"

namespace kiln::tmpl {

// raise_exception() was called: carries the template author's message.
class RaisedFailure : public EvalFailure {
 public:
  using EvalFailure::EvalFailure;
};

// Binds call arguments to a builtin's parameter names, as Python would.
class Args {
 public:
  Args(const CallArgs& call, std::string_view function, std::initializer_list<std::string_view> params);
  bool has(size_t i) const { return values_[i].has_value(); }
  const Value& operator[](size_t i) const;  // undefined when not given
  Value value_or(size_t i, Value fallback) const { return has(i) ? *values_[i] : std::move(fallback); }

 private:
  std::vector<std::optional<Value>> values_;
};

// Python's binary operators (+ - * / // % **), comparisons (== != < > <= >=)
// and membership (`item in container`), with Python's type rules.
Value binary_op(std::string_view op, const Value& a, const Value& b);
Value negate(const Value& v);
bool compare(std::string_view op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);

// Calls a callable value; fails as Python does for anything else.
Value call_value(const Value& callee, CallArgs& args);

// `obj.name`: attributes and methods first, then items (Jinja's getattr).
Value get_attribute(const Value& obj, const std::string& name);
// `obj[key]`: items first, then attributes (Jinja's getitem).
Value get_item(const Value& obj, const Value& key);
// `obj[start:stop:step]` with Python's slice rules.
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

bool has_filter(std::string_view name);
bool has_test(std::string_view name);
Value apply_filter(std::string_view name, const Value& input, CallArgs& args);
bool apply_test(std::string_view name, const Value& input, CallArgs& args);

// Python's json.dumps(value, ensure_ascii, indent, separators, sort_keys):
// the `tojson` filter of transformers.
struct JsonFormat {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // unset: single line
  std::optional<std::pair<std::string, std::string>> separators;
  bool sort_keys = false;
};
std::string dump_json(const Value& value, const JsonFormat& format);

// Broken-down local time for strftime_now(); injectable for tests.
using Clock = std::function<std::tm()>;
std::tm system_local_time();

// The global names every template sees.
ObjectData make_globals(const Clock& clock);

}  // namespace kiln::tmpl
