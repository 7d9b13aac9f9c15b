#pragma once
// The runtime value of the template interpreter. Chat templates are written
// against Python's data model (Jinja runs on Python), so a Value mirrors the
// Python objects a template can see: None, bool, int, float, str, list/tuple,
// dict (insertion-ordered, as Python dicts are), Jinja's Undefined, a
// namespace() object and callables (macros, builtins, bound methods).
// Lists and dicts are immutable once built (transformers renders in an
// ImmutableSandboxedEnvironment); only namespaces change in place.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace kiln::tmpl {

class Value;

// A failure while evaluating, before the evaluator has attached the template
// position of the construct that caused it (see TemplateError).
class EvalFailure : public kiln::Error {
 public:
  using kiln::Error::Error;
};

struct ArrayData {
  std::vector<Value> items;
  bool is_tuple = false;  // prints as (a, b) instead of [a, b]
};

// Insertion-ordered string-keyed map (Python dict semantics for str keys).
struct ObjectData {
  std::vector<std::pair<std::string, Value>> entries;
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  void set(std::string key, Value value);  // replaces in place or appends
};

// Arguments of a call: positional, then keyword in source order.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

struct Function {
  std::string name;
  std::function<Value(CallArgs&)> call;
};

// Jinja's default Undefined: prints as "", is falsy, iterates as empty, and
// fails (with `reason`) when used any further (attribute, call, arithmetic).
struct Undefined {
  std::shared_ptr<const std::string> reason;
};

struct NamespaceRef {
  std::shared_ptr<ObjectData> data;
};

class Value {
 public:
  using Array = std::shared_ptr<const ArrayData>;
  using Object = std::shared_ptr<const ObjectData>;
  using Callable = std::shared_ptr<const Function>;
  using Storage = std::variant<Undefined, std::nullptr_t, bool, int64_t, double, std::string, Array,
                               Object, NamespaceRef, Callable>;

  Value() = default;  // undefined
  Value(std::nullptr_t) : v_(nullptr) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(int64_t{i}) {}
  Value(int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(Array a) : v_(std::move(a)) {}
  Value(Object o) : v_(std::move(o)) {}
  Value(NamespaceRef n) : v_(std::move(n)) {}
  Value(Callable c) : v_(std::move(c)) {}
  Value(Undefined u) : v_(std::move(u)) {}

  static Value undefined(std::string reason);
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  static Value dict(ObjectData data);
  static Value function(std::string name, std::function<Value(CallArgs&)> fn);
  static Value from_json(const nlohmann::ordered_json& j);

  bool is_undefined() const { return std::holds_alternative<Undefined>(v_); }
  bool is_none() const { return std::holds_alternative<std::nullptr_t>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }  // not bool
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_array() const { return std::holds_alternative<Array>(v_); }
  bool is_object() const { return std::holds_alternative<Object>(v_); }
  bool is_namespace() const { return std::holds_alternative<NamespaceRef>(v_); }
  bool is_callable() const { return std::holds_alternative<Callable>(v_); }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const ArrayData& as_array() const { return *std::get<Array>(v_); }
  const ObjectData& as_object() const { return *std::get<Object>(v_); }
  const std::shared_ptr<ObjectData>& as_namespace() const { return std::get<NamespaceRef>(v_).data; }
  const Function& as_callable() const { return *std::get<Callable>(v_); }
  const Undefined& as_undefined() const { return std::get<Undefined>(v_); }
  const Storage& storage() const { return v_; }

  // Numeric value of an int, float or bool (Python's bool is an int).
  double to_double() const;
  int64_t to_int() const;  // int or bool

 private:
  Storage v_;
};

// The Python type name used in error messages ("str", "dict", "NoneType"...).
std::string type_name(const Value& v);
// Fails with the undefined value's reason (Jinja's UndefinedError).
[[noreturn]] void fail_undefined(const Value& v);

bool truthy(const Value& v);
std::string to_str(const Value& v);   // Python str()
std::string repr(const Value& v);     // Python repr()
std::string float_repr(double d);     // Python repr() of a float
bool equals(const Value& a, const Value& b);  // Python ==
// Python's <, for numbers, strings and sequences; fails on other pairs.
bool less_than(const Value& a, const Value& b);
// Items a for loop visits: list items, dict keys, string characters.
std::vector<Value> iterate(const Value& v);
// Python len(); fails for values without a length.
int64_t length(const Value& v);

}  // namespace kiln::tmpl
