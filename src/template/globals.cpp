// Global functions of the environment transformers renders chat templates
// in: Jinja's range/dict/namespace/joiner plus raise_exception and
// strftime_now.
#include <ctime>
#include <memory>

#include "template/builtins.h"
#include "template/text.h"

namespace kiln::tmpl {
namespace {

constexpr int64_t kMaxRange = 100000;  // Jinja's sandbox MAX_RANGE

int64_t range_arg(const Value& v) {
  if (v.is_int() || v.is_bool()) return v.to_int();
  throw EvalFailure("'" + type_name(v) + "' object cannot be interpreted as an integer");
}

Value range(CallArgs& call) {
  if (!call.keyword.empty()) throw EvalFailure("range() takes no keyword arguments");
  const auto& p = call.positional;
  if (p.empty() || p.size() > 3) throw EvalFailure("range expected 1 to 3 arguments, got " + std::to_string(p.size()));
  int64_t start = 0, stop, step = 1;
  if (p.size() == 1) {
    stop = range_arg(p[0]);
  } else {
    start = range_arg(p[0]);
    stop = range_arg(p[1]);
    if (p.size() == 3) step = range_arg(p[2]);
  }
  if (step == 0) throw EvalFailure("range() arg 3 must not be zero");
  int64_t count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                           : (start > stop ? (start - stop - step - 1) / -step : 0);
  if (count > kMaxRange)
    throw EvalFailure("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) items.emplace_back(start + i * step);
  return Value::list(std::move(items));
}

// dict(*args, **kwargs): a mapping or an iterable of pairs, then keywords.
ObjectData dict_from_args(const CallArgs& call, const char* function) {
  ObjectData data;
  if (call.positional.size() > 1)
    throw EvalFailure(std::string(function) + " expected at most 1 argument, got " +
                      std::to_string(call.positional.size()));
  if (!call.positional.empty()) {
    const Value& source = call.positional[0];
    if (source.is_object()) {
      data = source.as_object();
    } else if (source.is_namespace()) {
      data = *source.as_namespace();
    } else {
      for (const Value& pair : iterate(source)) {
        auto items = iterate(pair);
        if (items.size() != 2)
          throw EvalFailure("dictionary update sequence element has length " + std::to_string(items.size()) +
                            "; 2 is required");
        if (!items[0].is_string()) throw EvalFailure("only string keys are supported in template dicts");
        data.set(items[0].as_string(), items[1]);
      }
    }
  }
  for (const auto& [key, value] : call.keyword) data.set(key, value);
  return data;
}

Value make_namespace(CallArgs& call) {
  ObjectData data = dict_from_args(call, "namespace");
  for (const auto& entry : data.entries)
    if (!entry.first.empty() && entry.first[0] == '_')
      throw EvalFailure("Chat templates cannot store underscore-prefixed attributes on a namespace, but got " +
                        text::repr(entry.first) + ". Please rename the attribute.");
  return Value(NamespaceRef{std::make_shared<ObjectData>(std::move(data))});
}

Value joiner(CallArgs& call) {
  Args a(call, "joiner", {"sep"});
  std::string sep = a.has(0) ? to_str(a[0]) : ", ";
  auto used = std::make_shared<bool>(false);
  return Value::function("joiner", [sep, used](CallArgs& inner) {
    Args none(inner, "joiner", {});
    if (!*used) {
      *used = true;
      return Value("");
    }
    return Value(sep);
  });
}

std::string format_time(const std::tm& when, const std::string& format) {
  if (format.empty()) return "";
  std::vector<char> buf(256);
  while (true) {
    size_t n = std::strftime(buf.data(), buf.size(), format.c_str(), &when);
    if (n > 0 || buf.size() > 65536) return std::string(buf.data(), n);
    buf.resize(buf.size() * 4);  // 0 means "did not fit" (or an empty result)
  }
}

}  // namespace

std::tm system_local_time() {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return local;
}

ObjectData make_globals(const Clock& clock) {
  ObjectData g;
  g.set("range", Value::function("range", range));
  g.set("dict", Value::function("dict", [](CallArgs& call) { return Value::dict(dict_from_args(call, "dict")); }));
  g.set("namespace", Value::function("namespace", make_namespace));
  g.set("joiner", Value::function("joiner", joiner));
  g.set("raise_exception", Value::function("raise_exception", [](CallArgs& call) -> Value {
          Args a(call, "raise_exception", {"message"});
          throw RaisedFailure(to_str(a[0]));
        }));
  g.set("strftime_now", Value::function("strftime_now", [clock](CallArgs& call) {
          Args a(call, "strftime_now", {"format"});
          if (!a[0].is_string()) throw EvalFailure("strftime() argument 1 must be str, not " + type_name(a[0]));
          std::tm when = clock ? clock() : system_local_time();
          return Value(format_time(when, a[0].as_string()));
        }));
  return g;
}

}  // namespace kiln::tmpl
