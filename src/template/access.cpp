// Attribute, item and slice access, and the methods of str, dict and list
// that the sandbox lets a template call.
#include <algorithm>

#include "template/builtins.h"
#include "template/text.h"

namespace kiln::tmpl {
namespace {

// Jinja's object_type_repr, used in "'dict object' has no attribute 'x'".
std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return type_name(v) + " object";
}

Value missing_attribute(const Value& obj, const std::string& shown) {
  return Value::undefined(text::repr(object_type_repr(obj)) + " has no attribute " + shown);
}

Value method(const std::string& name, std::function<Value(CallArgs&)> fn) {
  return Value::function(name, std::move(fn));
}

std::optional<std::string> optional_string(const Value& v, const char* what) {
  if (v.is_none() || v.is_undefined()) return std::nullopt;
  if (!v.is_string()) throw EvalFailure(std::string(what) + " arg must be None or str");
  return v.as_string();
}

int64_t int_arg(const Value& v, const char* what) {
  if (v.is_int() || v.is_bool()) return v.to_int();
  throw EvalFailure(std::string(what) + " must be an integer, not '" + type_name(v) + "'");
}

const std::string& str_arg(const Value& v, const char* what) {
  if (!v.is_string()) throw EvalFailure(std::string(what) + " must be str, not " + type_name(v));
  return v.as_string();
}

bool affix_matches(const std::string& s, const Value& affix, bool prefix, const char* name) {
  auto one = [&](const Value& a) {
    const std::string& x = str_arg(a, name);
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_array() && affix.as_array().is_tuple) {
    for (const Value& a : affix.as_array().items)
      if (one(a)) return true;
    return false;
  }
  return one(affix);
}

bool all_chars(const std::string& s, bool (*pred)(char32_t)) {
  std::u32string cps = text::decode(s);
  if (cps.empty()) return false;
  return std::all_of(cps.begin(), cps.end(), pred);
}

Value string_method(const std::string& s, const std::string& name) {
  auto strip_fn = [s, name](bool left, bool right) {
    return method(name, [s, name, left, right](CallArgs& call) {
      Args a(call, name, {"chars"});
      return Value(text::strip(s, optional_string(a[0], name.c_str()), left, right));
    });
  };
  if (name == "strip") return strip_fn(true, true);
  if (name == "lstrip") return strip_fn(true, false);
  if (name == "rstrip") return strip_fn(false, true);
  if (name == "split")
    return method(name, [s](CallArgs& call) {
      Args a(call, "split", {"sep", "maxsplit"});
      std::vector<Value> parts;
      for (auto& part : text::split(s, optional_string(a[0], "split"), a.has(1) ? int_arg(a[1], "maxsplit") : -1))
        parts.emplace_back(std::move(part));
      return Value::list(std::move(parts));
    });
  if (name == "splitlines")
    return method(name, [s](CallArgs& call) {
      Args a(call, "splitlines", {});
      std::vector<Value> parts;
      for (auto& line : text::splitlines(s)) parts.emplace_back(std::move(line));
      return Value::list(std::move(parts));
    });
  if (name == "startswith" || name == "endswith")
    return method(name, [s, name](CallArgs& call) {
      Args a(call, name, {"affix"});
      if (!a.has(0)) throw EvalFailure(name + "() takes at least 1 argument (0 given)");
      return Value(affix_matches(s, a[0], name == "startswith", name.c_str()));
    });
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize")
    return method(name, [s, name](CallArgs& call) {
      Args a(call, name, {});
      if (name == "upper") return Value(text::upper(s));
      if (name == "lower") return Value(text::lower(s));
      if (name == "title") return Value(text::title(s));
      return Value(text::capitalize(s));
    });
  if (name == "replace")
    return method(name, [s](CallArgs& call) {
      Args a(call, "replace", {"old", "new", "count"});
      return Value(text::replace(s, str_arg(a[0], "replace() argument 1"), str_arg(a[1], "replace() argument 2"),
                                 a.has(2) ? int_arg(a[2], "count") : -1));
    });
  if (name == "find" || name == "count")
    return method(name, [s, name](CallArgs& call) {
      Args a(call, name, {"sub"});
      const std::string& sub = str_arg(a[0], (name + "() argument").c_str());
      if (name == "find") {
        size_t at = s.find(sub);
        return Value(at == std::string::npos ? int64_t{-1} : text::length(std::string_view(s).substr(0, at)));
      }
      if (sub.empty()) return Value(text::length(s) + 1);
      int64_t n = 0;
      for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
      return Value(n);
    });
  if (name == "join")
    return method(name, [s](CallArgs& call) {
      Args a(call, "join", {"iterable"});
      std::string out;
      size_t i = 0;
      for (const Value& item : iterate(a[0])) {
        if (!item.is_string())
          throw EvalFailure("sequence item " + std::to_string(i) + ": expected str instance, " + type_name(item) +
                            " found");
        if (i++) out += s;
        out += item.as_string();
      }
      return Value(std::move(out));
    });
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "isupper" ||
      name == "islower")
    return method(name, [s, name](CallArgs& call) {
      Args a(call, name, {});
      if (name == "isspace") return Value(all_chars(s, text::is_space));
      if (name == "isdigit") return Value(all_chars(s, [](char32_t c) { return c >= '0' && c <= '9'; }));
      if (name == "isalpha")
        return Value(all_chars(s, [](char32_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }));
      if (name == "isalnum")
        return Value(all_chars(s, [](char32_t c) {
          return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
        }));
      bool want_upper = name == "isupper";
      bool any_cased = false;
      for (char32_t c : text::decode(s)) {
        std::string one;
        text::append_utf8(one, c);
        bool is_upper = text::lower(one) != one;
        bool is_lower = text::upper(one) != one;
        if (is_upper || is_lower) any_cased = true;
        if (want_upper ? is_lower : is_upper) return Value(false);
      }
      return Value(any_cased);
    });
  if (name == "format") return Value::undefined("str.format() is not supported in chat templates");
  return missing_attribute(Value(s), text::repr(name));
}

Value dict_method(const Value& obj, const std::string& name) {
  const ObjectData& d = obj.as_object();
  if (name == "items" || name == "keys" || name == "values")
    return method(name, [obj, name](CallArgs& call) {
      Args a(call, name, {});
      std::vector<Value> out;
      for (const auto& [key, value] : obj.as_object().entries) {
        if (name == "items")
          out.push_back(Value::tuple({Value(key), value}));
        else
          out.push_back(name == "keys" ? Value(key) : value);
      }
      return Value::list(std::move(out));
    });
  if (name == "get")
    return method(name, [obj](CallArgs& call) {
      Args a(call, "get", {"key", "default"});
      if (a[0].is_string())
        if (const Value* v = obj.as_object().find(a[0].as_string())) return *v;
      return a.value_or(1, Value(nullptr));
    });
  static const char* const mutators[] = {"pop", "popitem", "setdefault", "update", "clear"};
  for (const char* m : mutators)
    if (name == m) return Value::undefined("access to attribute '" + name + "' of 'dict' object is unsafe.");
  if (const Value* v = d.find(name)) return *v;
  return missing_attribute(obj, text::repr(name));
}

Value list_method(const Value& obj, const std::string& name) {
  if (name == "index" || name == "count")
    return method(name, [obj, name](CallArgs& call) {
      Args a(call, name, {"value"});
      const auto& items = obj.as_array().items;
      int64_t n = 0;
      for (size_t i = 0; i < items.size(); ++i) {
        if (!equals(items[i], a[0])) continue;
        if (name == "index") return Value(static_cast<int64_t>(i));
        ++n;
      }
      if (name == "index") throw EvalFailure(repr(a[0]) + " is not in list");
      return Value(n);
    });
  static const char* const mutators[] = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};
  for (const char* m : mutators)
    if (name == m)
      return Value::undefined("access to attribute '" + name + "' of '" + type_name(obj) + "' object is unsafe.");
  return missing_attribute(obj, text::repr(name));
}

// Python's index normalisation; nullopt when out of range.
std::optional<size_t> normalize_index(int64_t index, size_t size) {
  if (index < 0) index += static_cast<int64_t>(size);
  if (index < 0 || index >= static_cast<int64_t>(size)) return std::nullopt;
  return static_cast<size_t>(index);
}

}  // namespace

Args::Args(const CallArgs& call, std::string_view function, std::initializer_list<std::string_view> params)
    : values_(params.size()) {
  std::vector<std::string_view> names(params);
  if (call.positional.size() > names.size())
    throw EvalFailure(std::string(function) + "() takes at most " + std::to_string(names.size()) +
                      " argument(s) (" + std::to_string(call.positional.size()) + " given)");
  for (size_t i = 0; i < call.positional.size(); ++i) values_[i] = call.positional[i];
  for (const auto& [key, value] : call.keyword) {
    auto it = std::find(names.begin(), names.end(), key);
    if (it == names.end())
      throw EvalFailure(std::string(function) + "() got an unexpected keyword argument '" + key + "'");
    size_t i = static_cast<size_t>(it - names.begin());
    if (values_[i]) throw EvalFailure(std::string(function) + "() got multiple values for argument '" + key + "'");
    values_[i] = value;
  }
}

const Value& Args::operator[](size_t i) const {
  static const Value absent;
  return values_[i] ? *values_[i] : absent;
}

Value call_value(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (!callee.is_callable()) throw EvalFailure("'" + type_name(callee) + "' object is not callable");
  return callee.as_callable().call(args);
}

Value get_attribute(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.is_string()) return string_method(obj.as_string(), name);
  if (obj.is_object()) return dict_method(obj, name);
  if (obj.is_array()) return list_method(obj, name);
  if (obj.is_namespace()) {
    if (const Value* v = obj.as_namespace()->find(name)) return *v;
  }
  return missing_attribute(obj, text::repr(name));
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.is_object() && key.is_string()) {
    if (const Value* v = obj.as_object().find(key.as_string())) return *v;
    return get_attribute(obj, key.as_string());
  }
  if ((obj.is_array() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    if (obj.is_array()) {
      const auto& items = obj.as_array().items;
      if (auto i = normalize_index(key.to_int(), items.size())) return items[*i];
    } else {
      std::u32string cps = text::decode(obj.as_string());
      if (auto i = normalize_index(key.to_int(), cps.size())) return Value(text::encode(cps.substr(*i, 1)));
    }
    return missing_attribute(obj, repr(key));
  }
  if (key.is_string()) return get_attribute(obj, key.as_string());
  return missing_attribute(obj, repr(key));
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) fail_undefined(obj);
  auto bound = [](const Value& v) -> std::optional<int64_t> {
    if (v.is_none()) return std::nullopt;
    if (v.is_int() || v.is_bool()) return v.to_int();
    throw EvalFailure("slice indices must be integers or None or have an __index__ method");
  };
  std::optional<int64_t> lo = bound(start), hi = bound(stop), st = bound(step);
  int64_t s = st.value_or(1);
  if (s == 0) throw EvalFailure("slice step cannot be zero");
  std::vector<Value> items;
  std::u32string cps;
  size_t size;
  if (obj.is_array()) {
    size = obj.as_array().items.size();
  } else if (obj.is_string()) {
    cps = text::decode(obj.as_string());
    size = cps.size();
  } else {
    throw EvalFailure("'" + type_name(obj) + "' object is not subscriptable");
  }
  const auto n = static_cast<int64_t>(size);
  // CPython's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += n;
      if (x < 0) x = s < 0 ? -1 : 0;
    } else if (x >= n) {
      x = s < 0 ? n - 1 : n;
    }
    return x;
  };
  int64_t begin = adjust(lo, s < 0 ? n - 1 : 0);
  int64_t end = adjust(hi, s < 0 ? -1 : n);
  std::vector<size_t> picked;
  for (int64_t i = begin; s > 0 ? i < end : i > end; i += s) picked.push_back(static_cast<size_t>(i));
  if (obj.is_string()) {
    std::u32string out;
    for (size_t i : picked) out.push_back(cps[i]);
    return Value(text::encode(out));
  }
  for (size_t i : picked) items.push_back(obj.as_array().items[i]);
  return obj.as_array().is_tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

}  // namespace kiln::tmpl
