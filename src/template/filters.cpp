// Jinja's builtin filters (jinja2/filters.py), with transformers' `tojson`.
// Each follows the Python implementation's conversions and edge cases,
// since the filters run on user content (trim, tojson) in every prompt.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "template/builtins.h"
#include "template/text.h"

namespace kiln::tmpl {
namespace {

using FilterFn = Value (*)(const Value&, CallArgs&);

std::string soft_str(const Value& v) { return to_str(v); }

Value list_of(std::vector<Value> items) { return Value::list(std::move(items)); }

// make_attrgetter: "a.b.0" looks up each part as an item (ints as ints).
Value lookup_path(Value item, const Value& attribute, const Value& fallback = Value()) {
  if (attribute.is_int()) return get_item(item, attribute);
  std::string path = soft_str(attribute);
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool numeric = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    item = get_item(item, numeric ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part));
    if (!fallback.is_undefined() && !fallback.is_none() && item.is_undefined()) item = fallback;
    if (dot == std::string::npos) return item;
    start = dot + 1;
  }
}

Value ignore_case(Value v) { return v.is_string() ? Value(text::lower(v.as_string())) : v; }

// Sort key of `item` for sort/unique/min/max/dictsort.
Value sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
  Value key = item;
  if (attribute.is_string() && attribute.as_string().find(',') != std::string::npos) {
    std::vector<Value> parts;
    for (const auto& part : text::split(attribute.as_string(), std::string(","), -1)) {
      Value k = lookup_path(item, Value(part));
      parts.push_back(case_sensitive ? k : ignore_case(k));
    }
    return Value::list(std::move(parts));
  }
  if (!attribute.is_none() && !attribute.is_undefined()) key = lookup_path(item, attribute);
  return case_sensitive ? key : ignore_case(key);
}

Value f_trim(const Value& v, CallArgs& call) {
  Args a(call, "trim", {"chars"});
  std::optional<std::string> chars;
  if (a.has(0) && !a[0].is_none()) chars = soft_str(a[0]);
  return Value(text::strip(soft_str(v), chars, true, true));
}

Value f_length(const Value& v, CallArgs& call) {
  Args a(call, "length", {});
  return Value(length(v));
}

Value f_first(const Value& v, CallArgs& call) {
  Args a(call, "first", {});
  if (v.is_array()) {
    const auto& items = v.as_array().items;
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
  }
  auto items = iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(const Value& v, CallArgs& call) {
  Args a(call, "last", {});
  auto items = iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_join(const Value& v, CallArgs& call) {
  Args a(call, "join", {"d", "attribute"});
  std::string sep = a.has(0) ? soft_str(a[0]) : "";
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += soft_str(a.has(1) && !a[1].is_none() ? lookup_path(item, a[1]) : item);
  }
  return Value(std::move(out));
}

Value f_default(const Value& v, CallArgs& call) {
  Args a(call, "default", {"default_value", "boolean"});
  bool use_default = v.is_undefined() || (a.has(1) && truthy(a[1]) && !truthy(v));
  return use_default ? a.value_or(0, Value("")) : v;
}

Value f_upper(const Value& v, CallArgs& call) {
  Args a(call, "upper", {});
  return Value(text::upper(soft_str(v)));
}

Value f_lower(const Value& v, CallArgs& call) {
  Args a(call, "lower", {});
  return Value(text::lower(soft_str(v)));
}

Value f_capitalize(const Value& v, CallArgs& call) {
  Args a(call, "capitalize", {});
  return Value(text::capitalize(soft_str(v)));
}

// Jinja's title splits on runs of -, whitespace and opening brackets.
Value f_title(const Value& v, CallArgs& call) {
  Args a(call, "title", {});
  std::u32string s = text::decode(soft_str(v));
  auto is_separator = [](char32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || text::is_space(c); };
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    bool separator = is_separator(s[i]);
    while (j < s.size() && is_separator(s[j]) == separator) ++j;
    std::string piece = text::encode(s.substr(i, j - i));
    out += separator ? piece : text::capitalize(piece);
    i = j;
  }
  return Value(std::move(out));
}

Value f_replace(const Value& v, CallArgs& call) {
  Args a(call, "replace", {"old", "new", "count"});
  int64_t count = a.has(2) && !a[2].is_none() ? a[2].to_int() : -1;
  return Value(text::replace(soft_str(v), soft_str(a[0]), soft_str(a[1]), count));
}

Value f_tojson(const Value& v, CallArgs& call) {
  Args a(call, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonFormat format;
  format.ensure_ascii = truthy(a[0]);
  if (a.has(1) && !a[1].is_none()) {
    if (a[1].is_string())
      format.indent = a[1].as_string();
    else if (a[1].is_int())
      format.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, a[1].as_int())), ' ');
    else
      throw EvalFailure("tojson: indent must be an integer or a string");
  }
  if (a.has(2) && !a[2].is_none()) {
    if (!a[2].is_array() || a[2].as_array().items.size() != 2)
      throw EvalFailure("tojson: separators must be a pair of strings");
    format.separators = std::make_pair(soft_str(a[2].as_array().items[0]), soft_str(a[2].as_array().items[1]));
  }
  format.sort_keys = truthy(a[3]);
  return Value(dump_json(v, format));
}

Value f_string(const Value& v, CallArgs& call) {
  Args a(call, "string", {});
  return Value(soft_str(v));
}

// Python float() of a string: surrounding whitespace allowed, underscores
// between digits, inf/nan spellings.
std::optional<double> parse_python_float(std::string s) {
  s = text::strip(s, std::nullopt, true, true);
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 == s.size() || !isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !isdigit(static_cast<unsigned char>(s[i + 1])))
        return std::nullopt;
      continue;
    }
    clean.push_back(s[i]);
  }
  if (clean.empty() || clean.find_first_of("xXpP") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return std::nullopt;
  return d;
}

std::optional<int64_t> parse_python_int(std::string s, int base) {
  s = text::strip(s, std::nullopt, true, true);
  std::string clean;
  for (char c : s)
    if (c != '_') clean.push_back(c);
  if (clean.empty() || clean.find_first_of(" \t") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(clean.c_str(), &end, base);
  if (errno || end != clean.c_str() + clean.size()) return std::nullopt;
  return v;
}

Value f_int(const Value& v, CallArgs& call) {
  Args a(call, "int", {"default", "base"});
  Value fallback = a.value_or(0, Value(int64_t{0}));
  if (v.is_int() || v.is_bool()) return Value(v.to_int());
  if (v.is_float()) {
    double d = v.as_float();
    if (!std::isfinite(d)) return fallback;
    return Value(static_cast<int64_t>(d));
  }
  if (v.is_string()) {
    int base = a.has(1) ? static_cast<int>(a[1].to_int()) : 10;
    if (auto i = parse_python_int(v.as_string(), base)) return Value(*i);
    if (auto d = parse_python_float(v.as_string()); d && std::isfinite(*d)) return Value(static_cast<int64_t>(*d));
  }
  return fallback;
}

Value f_float(const Value& v, CallArgs& call) {
  Args a(call, "float", {"default"});
  if (v.is_number()) return Value(v.to_double());
  if (v.is_string())
    if (auto d = parse_python_float(v.as_string())) return Value(*d);
  return a.value_or(0, Value(0.0));
}

Value f_list(const Value& v, CallArgs& call) {
  Args a(call, "list", {});
  return list_of(iterate(v));
}

Value f_items(const Value& v, CallArgs& call) {
  Args a(call, "items", {});
  if (v.is_undefined()) return list_of({});
  if (!v.is_object()) throw EvalFailure("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [key, value] : v.as_object().entries) out.push_back(Value::tuple({Value(key), value}));
  return list_of(std::move(out));
}

Value f_map(const Value& v, CallArgs& call) {
  std::vector<Value> out;
  if (call.positional.empty()) {
    Value attribute, fallback(nullptr);
    for (const auto& [key, value] : call.keyword) {
      if (key == "attribute")
        attribute = value;
      else if (key == "default")
        fallback = value;
      else
        throw EvalFailure("Unexpected keyword argument '" + key + "'");
    }
    if (attribute.is_undefined()) throw EvalFailure("map requires a filter argument");
    for (const Value& item : iterate(v)) out.push_back(lookup_path(item, attribute, fallback));
    return list_of(std::move(out));
  }
  std::string name = soft_str(call.positional[0]);
  CallArgs rest{{call.positional.begin() + 1, call.positional.end()}, call.keyword};
  for (const Value& item : iterate(v)) {
    CallArgs args = rest;
    out.push_back(apply_filter(name, item, args));
  }
  return list_of(std::move(out));
}

Value select_or_reject(const Value& v, CallArgs& call, bool keep_matching, bool by_attribute) {
  std::vector<Value> out;
  if (!truthy(v)) return list_of({});
  size_t offset = by_attribute ? 1 : 0;
  if (by_attribute && call.positional.empty()) throw EvalFailure("Missing parameter for attribute name");
  std::optional<std::string> test;
  if (call.positional.size() > offset) test = soft_str(call.positional[offset]);
  CallArgs test_args{{call.positional.begin() + std::min(call.positional.size(), offset + 1), call.positional.end()},
                     call.keyword};
  for (const Value& item : iterate(v)) {
    Value subject = by_attribute ? lookup_path(item, call.positional[0]) : item;
    bool passed;
    if (test) {
      CallArgs args = test_args;
      passed = apply_test(*test, subject, args);
    } else {
      passed = truthy(subject);
    }
    if (passed == keep_matching) out.push_back(item);
  }
  return list_of(std::move(out));
}

Value f_select(const Value& v, CallArgs& call) { return select_or_reject(v, call, true, false); }
Value f_reject(const Value& v, CallArgs& call) { return select_or_reject(v, call, false, false); }
Value f_selectattr(const Value& v, CallArgs& call) { return select_or_reject(v, call, true, true); }
Value f_rejectattr(const Value& v, CallArgs& call) { return select_or_reject(v, call, false, true); }

Value f_dictsort(const Value& v, CallArgs& call) {
  Args a(call, "dictsort", {"case_sensitive", "by", "reverse"});
  if (!v.is_object()) throw EvalFailure("dictsort expects a mapping, got '" + type_name(v) + "'");
  std::string by = a.has(1) ? soft_str(a[1]) : "key";
  if (by != "key" && by != "value") throw EvalFailure("You can only sort by either \"key\" or \"value\"");
  bool case_sensitive = truthy(a[0]), reverse = truthy(a[2]);
  std::vector<std::pair<Value, Value>> keyed;
  for (const auto& [key, value] : v.as_object().entries) {
    Value k = by == "key" ? Value(key) : value;
    keyed.emplace_back(case_sensitive ? k : ignore_case(k), Value::tuple({Value(key), value}));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? less_than(y.first, x.first) : less_than(x.first, y.first);
  });
  std::vector<Value> out;
  for (auto& entry : keyed) out.push_back(std::move(entry.second));
  return list_of(std::move(out));
}

Value f_sort(const Value& v, CallArgs& call) {
  Args a(call, "sort", {"reverse", "case_sensitive", "attribute"});
  bool reverse = truthy(a[0]), case_sensitive = truthy(a[1]);
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value& item : iterate(v)) keyed.emplace_back(sort_key(item, a[2], case_sensitive), item);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? less_than(y.first, x.first) : less_than(x.first, y.first);
  });
  std::vector<Value> out;
  for (auto& entry : keyed) out.push_back(std::move(entry.second));
  return list_of(std::move(out));
}

Value f_unique(const Value& v, CallArgs& call) {
  Args a(call, "unique", {"case_sensitive", "attribute"});
  std::vector<Value> out, seen;
  for (const Value& item : iterate(v)) {
    Value key = sort_key(item, a[1], truthy(a[0]));
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return list_of(std::move(out));
}

Value min_or_max(const Value& v, CallArgs& call, bool want_max) {
  Args a(call, want_max ? "max" : "min", {"case_sensitive", "attribute"});
  auto items = iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = sort_key(items[0], a[1], truthy(a[0]));
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = sort_key(items[i], a[1], truthy(a[0]));
    if (want_max ? less_than(best_key, key) : less_than(key, best_key)) {
      best = i;
      best_key = key;
    }
  }
  return items[best];
}

Value f_min(const Value& v, CallArgs& call) { return min_or_max(v, call, false); }
Value f_max(const Value& v, CallArgs& call) { return min_or_max(v, call, true); }

Value f_reverse(const Value& v, CallArgs& call) {
  Args a(call, "reverse", {});
  if (v.is_string()) {
    std::u32string s = text::decode(v.as_string());
    std::reverse(s.begin(), s.end());
    return Value(text::encode(s));
  }
  auto items = iterate(v);
  std::reverse(items.begin(), items.end());
  return list_of(std::move(items));
}

Value f_safe(const Value& v, CallArgs& call) {
  Args a(call, "safe", {});
  return Value(soft_str(v));
}

Value f_escape(const Value& v, CallArgs& call) {
  Args a(call, "escape", {});
  std::string out;
  for (char c : soft_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return Value(std::move(out));
}

Value f_indent(const Value& v, CallArgs& call) {
  Args a(call, "indent", {"width", "first", "blank"});
  if (v.is_undefined()) fail_undefined(v);
  if (!v.is_string()) throw EvalFailure("unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
  std::string indention = a.has(0) ? (a[0].is_string() ? a[0].as_string()
                                                        : std::string(std::max<int64_t>(0, a[0].to_int()), ' '))
                                   : std::string(4, ' ');
  auto lines = text::splitlines(v.as_string() + "\n");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out.push_back('\n');
      if (truthy(a[2]) || !lines[i].empty()) out += indention;  // blank=False leaves empty lines alone
    }
    out += lines[i];
  }
  if (truthy(a[1])) out = indention + out;
  return Value(std::move(out));
}

// Python's round(x, ndigits): correctly rounded, ties to even.
double python_round(double x, int64_t digits) {
  if (!std::isfinite(x)) return x;
  if (digits >= 0) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::min<int64_t>(digits, 300)), x);
    return std::strtod(buf, nullptr);
  }
  double scale = std::pow(10.0, static_cast<double>(-digits));
  return std::nearbyint(x / scale) * scale;
}

Value f_round(const Value& v, CallArgs& call) {
  Args a(call, "round", {"precision", "method"});
  int64_t precision = a.has(0) ? a[0].to_int() : 0;
  std::string method = a.has(1) ? soft_str(a[1]) : "common";
  if (method != "common" && method != "ceil" && method != "floor")
    throw EvalFailure("method must be common, ceil or floor");
  if (!v.is_number()) throw EvalFailure("type " + type_name(v) + " doesn't define __round__ method");
  if (method == "common") {
    if (v.is_float()) return Value(python_round(v.as_float(), precision));
    if (precision >= 0) return Value(v.to_int());
    return Value(static_cast<int64_t>(python_round(static_cast<double>(v.to_int()), precision)));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double scaled = v.to_double() * scale;
  return Value((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

Value f_abs(const Value& v, CallArgs& call) {
  Args a(call, "abs", {});
  if (v.is_float()) return Value(std::fabs(v.as_float()));
  if (v.is_int() || v.is_bool()) return Value(v.to_int() < 0 ? negate(v) : Value(v.to_int()));
  if (v.is_undefined()) fail_undefined(v);
  throw EvalFailure("bad operand type for abs(): '" + type_name(v) + "'");
}

Value f_sum(const Value& v, CallArgs& call) {
  Args a(call, "sum", {"attribute", "start"});
  Value total = a.value_or(1, Value(int64_t{0}));
  for (const Value& item : iterate(v))
    total = binary_op("+", total, a.has(0) && !a[0].is_none() ? lookup_path(item, a[0]) : item);
  return total;
}

Value f_wordcount(const Value& v, CallArgs& call) {
  Args a(call, "wordcount", {});
  // Python's \w: letters, digits and underscore of any script.
  auto is_word = [](char32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_';
    return !text::is_space(c) && !(c >= 0x2000 && c <= 0x206F) && !(c >= 0x3000 && c <= 0x303F) &&
           !(c >= 0x80 && c <= 0xBF && c != 0xAA && c != 0xB5 && c != 0xBA && c != 0xB2 && c != 0xB3 &&
             c != 0xB9) &&
           c != 0xD7 && c != 0xF7;
  };
  int64_t words = 0;
  bool in_word = false;
  for (char32_t c : text::decode(soft_str(v))) {
    bool w = is_word(c);
    if (w && !in_word) ++words;
    in_word = w;
  }
  return Value(words);
}

Value f_attr(const Value& v, CallArgs& call) {
  Args a(call, "attr", {"name"});
  return get_attribute(v, soft_str(a[0]));
}

const std::unordered_map<std::string_view, FilterFn>& filter_table() {
  static const std::unordered_map<std::string_view, FilterFn> table = {
      {"abs", f_abs},         {"attr", f_attr},         {"capitalize", f_capitalize},
      {"count", f_length},    {"d", f_default},         {"default", f_default},
      {"dictsort", f_dictsort}, {"e", f_escape},        {"escape", f_escape},
      {"first", f_first},     {"float", f_float},       {"indent", f_indent},
      {"int", f_int},         {"items", f_items},       {"join", f_join},
      {"last", f_last},       {"length", f_length},     {"list", f_list},
      {"lower", f_lower},     {"map", f_map},           {"max", f_max},
      {"min", f_min},         {"reject", f_reject},     {"rejectattr", f_rejectattr},
      {"replace", f_replace}, {"reverse", f_reverse},   {"round", f_round},
      {"safe", f_safe},       {"select", f_select},     {"selectattr", f_selectattr},
      {"sort", f_sort},       {"string", f_string},     {"sum", f_sum},
      {"title", f_title},     {"tojson", f_tojson},     {"trim", f_trim},
      {"unique", f_unique},   {"upper", f_upper},       {"wordcount", f_wordcount},
  };
  return table;
}

// Filters Jinja knows but chat templates do not use; a template naming one
// still loads (as in Jinja) and fails only if it reaches the filter.
bool is_unimplemented_jinja_filter(std::string_view name) {
  static const std::string_view names[] = {"batch",    "center", "filesizeformat", "forceescape", "format",
                                           "groupby",  "pprint", "random",         "slice",       "striptags",
                                           "truncate", "urlencode", "urlize",      "wordwrap",    "xmlattr"};
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

}  // namespace

bool has_filter(std::string_view name) {
  return filter_table().count(name) > 0 || is_unimplemented_jinja_filter(name);
}

Value apply_filter(std::string_view name, const Value& input, CallArgs& args) {
  auto it = filter_table().find(name);
  if (it == filter_table().end()) {
    if (is_unimplemented_jinja_filter(name))
      throw EvalFailure("the '" + std::string(name) + "' filter is not supported in chat templates");
    throw EvalFailure("No filter named '" + std::string(name) + "'.");
  }
  return it->second(input, args);
}

}  // namespace kiln::tmpl
