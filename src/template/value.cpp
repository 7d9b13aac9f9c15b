#include "template/value.h"

#include <charconv>
#include <cmath>

#include "template/text.h"

namespace kiln::tmpl {

const Value* ObjectData::find(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k == key) return &v;
  return nullptr;
}

Value* ObjectData::find(std::string_view key) {
  for (auto& [k, v] : entries)
    if (k == key) return &v;
  return nullptr;
}

void ObjectData::set(std::string key, Value value) {
  if (Value* existing = find(key)) {
    *existing = std::move(value);
    return;
  }
  entries.emplace_back(std::move(key), std::move(value));
}

Value Value::undefined(std::string reason) {
  return Value(Undefined{std::make_shared<const std::string>(std::move(reason))});
}

Value Value::list(std::vector<Value> items) {
  return Value(Array(std::make_shared<const ArrayData>(ArrayData{std::move(items), false})));
}

Value Value::tuple(std::vector<Value> items) {
  return Value(Array(std::make_shared<const ArrayData>(ArrayData{std::move(items), true})));
}

Value Value::dict(ObjectData data) { return Value(Object(std::make_shared<const ObjectData>(std::move(data)))); }

Value Value::function(std::string name, std::function<Value(CallArgs&)> fn) {
  return Value(Callable(std::make_shared<const Function>(Function{std::move(name), std::move(fn)})));
}

Value Value::from_json(const nlohmann::ordered_json& j) {
  using T = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case T::null:
      return Value(nullptr);
    case T::boolean:
      return Value(j.get<bool>());
    case T::number_integer:
      return Value(j.get<int64_t>());
    case T::number_unsigned: {
      auto u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case T::number_float:
      return Value(j.get<double>());
    case T::string:
      return Value(j.get<std::string>());
    case T::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(from_json(item));
      return list(std::move(items));
    }
    case T::object: {
      ObjectData data;
      data.entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) data.entries.emplace_back(it.key(), from_json(it.value()));
      return dict(std::move(data));
    }
    default:
      throw kiln::Error("chat template input: unsupported JSON value (binary or discarded)");
  }
}

double Value::to_double() const {
  if (is_float()) return as_float();
  if (is_int()) return static_cast<double>(as_int());
  return as_bool() ? 1.0 : 0.0;
}

int64_t Value::to_int() const {
  if (is_int()) return as_int();
  return as_bool() ? 1 : 0;
}

std::string type_name(const Value& v) {
  switch (v.storage().index()) {
    case 0: return "Undefined";
    case 1: return "NoneType";
    case 2: return "bool";
    case 3: return "int";
    case 4: return "float";
    case 5: return "str";
    case 6: return v.as_array().is_tuple ? "tuple" : "list";
    case 7: return "dict";
    case 8: return "Namespace";
    default: return "function";
  }
}

void fail_undefined(const Value& v) {
  const auto& reason = v.as_undefined().reason;
  throw EvalFailure(reason ? *reason : std::string("value is undefined"));
}

bool truthy(const Value& v) {
  switch (v.storage().index()) {
    case 0: return false;
    case 1: return false;
    case 2: return v.as_bool();
    case 3: return v.as_int() != 0;
    case 4: return v.as_float() != 0.0;
    case 5: return !v.as_string().empty();
    case 6: return !v.as_array().items.empty();
    case 7: return !v.as_object().entries.empty();
    default: return true;
  }
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  // Shortest round-trip digits, then laid out with Python's repr rules:
  // positional for exponents in [-4, 16), scientific otherwise.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t e_pos = sci.find('e');
  std::string digits;
  for (size_t i = 0; i < e_pos; ++i)
    if (sci[i] != '.') digits.push_back(sci[i]);
  int exponent = std::stoi(sci.substr(e_pos + 1));
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (exponent >= -4 && exponent < 16) {
    std::string out;
    if (exponent >= 0) {
      std::string int_part = digits.substr(0, std::min<size_t>(digits.size(), exponent + 1));
      while (int_part.size() < static_cast<size_t>(exponent + 1)) int_part.push_back('0');
      std::string frac = digits.size() > static_cast<size_t>(exponent + 1) ? digits.substr(exponent + 1) : "0";
      out = int_part + "." + frac;
    } else {
      out = "0." + std::string(-exponent - 1, '0') + digits;
    }
    return sign + out;
  }
  std::string mantissa = digits.substr(0, 1);
  if (digits.size() > 1) mantissa += "." + digits.substr(1);
  std::string exp_digits = std::to_string(std::abs(exponent));
  if (exp_digits.size() < 2) exp_digits = "0" + exp_digits;
  return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + exp_digits;
}

namespace {

std::string sequence_repr(const ArrayData& a) {
  std::string out = a.is_tuple ? "(" : "[";
  for (size_t i = 0; i < a.items.size(); ++i) {
    if (i) out += ", ";
    out += repr(a.items[i]);
  }
  if (a.is_tuple && a.items.size() == 1) out += ",";
  out += a.is_tuple ? ")" : "]";
  return out;
}

std::string mapping_repr(const ObjectData& o) {
  std::string out = "{";
  for (size_t i = 0; i < o.entries.size(); ++i) {
    if (i) out += ", ";
    out += text::repr(o.entries[i].first) + ": " + repr(o.entries[i].second);
  }
  return out + "}";
}

}  // namespace

std::string to_str(const Value& v) {
  switch (v.storage().index()) {
    case 0: return "";
    case 1: return "None";
    case 2: return v.as_bool() ? "True" : "False";
    case 3: return std::to_string(v.as_int());
    case 4: return float_repr(v.as_float());
    case 5: return v.as_string();
    case 6: return sequence_repr(v.as_array());
    case 7: return mapping_repr(v.as_object());
    case 8: return "<Namespace " + mapping_repr(*v.as_namespace()) + ">";
    default: return "<function " + v.as_callable().name + ">";
  }
}

std::string repr(const Value& v) {
  if (v.is_string()) return text::repr(v.as_string());
  if (v.is_undefined()) return "Undefined";
  return to_str(v);
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.to_double() == b.to_double();
    return a.to_int() == b.to_int();
  }
  if (a.storage().index() != b.storage().index()) return false;
  switch (a.storage().index()) {
    case 0: return true;
    case 1: return true;
    case 5: return a.as_string() == b.as_string();
    case 6: {
      const auto& x = a.as_array();
      const auto& y = b.as_array();
      if (x.is_tuple != y.is_tuple || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i)
        if (!equals(x.items[i], y.items[i])) return false;
      return true;
    }
    case 7: {
      const auto& x = a.as_object();
      const auto& y = b.as_object();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [key, value] : x.entries) {
        const Value* other = y.find(key);
        if (!other || !equals(value, *other)) return false;
      }
      return true;
    }
    case 8: return a.as_namespace() == b.as_namespace();
    case 9: return std::get<Value::Callable>(a.storage()) == std::get<Value::Callable>(b.storage());
    default: return false;
  }
}

bool less_than(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.to_double() < b.to_double();
    return a.to_int() < b.to_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();  // UTF-8 bytes sort as code points
  if (a.is_array() && b.is_array() && a.as_array().is_tuple == b.as_array().is_tuple) {
    const auto& x = a.as_array().items;
    const auto& y = b.as_array().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equals(x[i], y[i])) continue;
      return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  throw EvalFailure("'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

std::vector<Value> iterate(const Value& v) {
  if (v.is_array()) return v.as_array().items;
  if (v.is_object()) {
    std::vector<Value> keys;
    keys.reserve(v.as_object().entries.size());
    for (const auto& entry : v.as_object().entries) keys.emplace_back(entry.first);
    return keys;
  }
  if (v.is_string()) {
    std::vector<Value> chars;
    for (char32_t cp : text::decode(v.as_string())) {
      std::string one;
      text::append_utf8(one, cp);
      chars.emplace_back(std::move(one));
    }
    return chars;
  }
  if (v.is_undefined()) return {};
  throw EvalFailure("'" + type_name(v) + "' object is not iterable");
}

int64_t length(const Value& v) {
  if (v.is_string()) return text::length(v.as_string());
  if (v.is_array()) return static_cast<int64_t>(v.as_array().items.size());
  if (v.is_object()) return static_cast<int64_t>(v.as_object().entries.size());
  if (v.is_undefined()) return 0;
  throw EvalFailure("object of type '" + type_name(v) + "' has no len()");
}

}  // namespace kiln::tmpl
