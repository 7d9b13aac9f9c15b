// json_schema_validate: recursive check of an instance against the schema.
#include "engine/json_schema_validate.h"

#include <cmath>
#include <regex>

#include "core/error.h"

namespace kiln::engine {
namespace {

using json = nlohmann::ordered_json;

size_t codepoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool valid_date(const std::string& s) {
  static const std::regex re(R"(^(\d{4})-(\d{2})-(\d{2})$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return false;
  int mo = std::stoi(m[2]), d = std::stoi(m[3]);
  return mo >= 1 && mo <= 12 && d >= 1 && d <= 31;
}

bool valid_time(const std::string& s) {
  static const std::regex re(R"(^(\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return false;
  if (std::stoi(m[1]) > 23 || std::stoi(m[2]) > 59 || std::stoi(m[3]) > 59) return false;
  if (m[6].matched && (std::stoi(m[6]) > 23 || std::stoi(m[7]) > 59)) return false;
  return true;
}

class Validator {
 public:
  explicit Validator(const json& root) : root_(root) {}

  std::string check(const json& s, const json& x, const std::string& at) {
    if (s.is_boolean()) return s.get<bool>() ? "" : at + ": schema false";
    if (!s.is_object()) throw kiln::Error("JSON schema at " + at + ": not an object");
    if (s.contains("$ref")) {
      const std::string ref = s["$ref"].get<std::string>();
      if (ref.rfind("#", 0) != 0) throw kiln::Error("JSON schema: only local $ref is supported");
      if (++depth_ > 200) throw kiln::Error("JSON schema: $ref nesting too deep");
      std::string r = check(root_.at(json::json_pointer(ref.substr(1))), x, at);
      --depth_;
      if (!r.empty()) return r;
    }
    if (s.value("nullable", false) && x.is_null()) return "";
    if (s.contains("const") && !(s["const"] == x)) return at + ": not the const value";
    if (s.contains("enum")) {
      bool found = false;
      for (auto& v : s["enum"]) found = found || v == x;
      if (!found) return at + ": not one of the enum values";
    }
    if (s.contains("anyOf")) {
      bool any = false;
      for (auto& b : s["anyOf"]) any = any || check(b, x, at).empty();
      if (!any) return at + ": matches no anyOf branch";
    }
    if (s.contains("oneOf")) {
      int n = 0;
      for (auto& b : s["oneOf"]) n += check(b, x, at).empty();
      if (n != 1) return at + ": matches " + std::to_string(n) + " oneOf branches, not exactly one";
    }
    if (s.contains("allOf"))
      for (auto& b : s["allOf"])
        if (auto r = check(b, x, at); !r.empty()) return r;
    if (s.contains("type")) {
      bool ok = false;
      if (s["type"].is_array()) {
        for (auto& t : s["type"]) ok = ok || is_type(t.get<std::string>(), x);
      } else {
        ok = is_type(s["type"].get<std::string>(), x);
      }
      if (!ok) return at + ": expected " + s["type"].dump() + ", got " + x.type_name();
    }
    if (x.is_object()) return check_object(s, x, at);
    if (x.is_array()) return check_array(s, x, at);
    if (x.is_string()) return check_string(s, x.get<std::string>(), at);
    if (x.is_number()) return check_number(s, x.get<double>(), at);
    return "";
  }

 private:
  static bool is_type(const std::string& t, const json& x) {
    if (t == "object") return x.is_object();
    if (t == "array") return x.is_array();
    if (t == "string") return x.is_string();
    if (t == "boolean") return x.is_boolean();
    if (t == "null") return x.is_null();
    if (t == "number") return x.is_number();
    if (t == "integer") return x.is_number_integer() || (x.is_number_float() && std::floor(x.get<double>()) == x.get<double>());
    throw kiln::Error("JSON schema: unknown type '" + t + "'");
  }

  std::string check_object(const json& s, const json& x, const std::string& at) {
    const json props = s.value("properties", json::object());
    for (auto& r : s.value("required", json::array()))
      if (!x.contains(r.get<std::string>())) return at + ": missing required property '" + r.get<std::string>() + "'";
    for (auto& [k, v] : x.items()) {
      if (props.contains(k)) {
        if (auto r = check(props[k], v, at + "/" + k); !r.empty()) return r;
      } else if (s.contains("additionalProperties")) {
        if (auto r = check(s["additionalProperties"], v, at + "/" + k); !r.empty()) return r;
      }
    }
    return "";
  }

  std::string check_array(const json& s, const json& x, const std::string& at) {
    if (s.contains("minItems") && x.size() < s["minItems"].get<size_t>()) return at + ": fewer items than minItems";
    if (s.contains("maxItems") && x.size() > s["maxItems"].get<size_t>()) return at + ": more items than maxItems";
    size_t n_prefix = 0;
    if (s.contains("prefixItems")) {
      n_prefix = s["prefixItems"].size();
      for (size_t i = 0; i < std::min(n_prefix, x.size()); ++i)
        if (auto r = check(s["prefixItems"][i], x[i], at + "/" + std::to_string(i)); !r.empty()) return r;
    }
    if (s.contains("items"))
      for (size_t i = n_prefix; i < x.size(); ++i)
        if (auto r = check(s["items"], x[i], at + "/" + std::to_string(i)); !r.empty()) return r;
    return "";
  }

  std::string check_string(const json& s, const std::string& v, const std::string& at) {
    const size_t n = codepoints(v);
    if (s.contains("minLength") && n < s["minLength"].get<size_t>()) return at + ": shorter than minLength";
    if (s.contains("maxLength") && n > s["maxLength"].get<size_t>()) return at + ": longer than maxLength";
    if (s.contains("pattern")) {
      std::regex re(s["pattern"].get<std::string>(), std::regex::ECMAScript);
      if (!std::regex_search(v, re)) return at + ": does not match pattern " + s["pattern"].get<std::string>();
    }
    if (s.contains("format")) {
      const std::string f = s["format"].get<std::string>();
      static const std::regex uuid("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
      bool ok = true;
      if (f == "date") ok = valid_date(v);
      else if (f == "time") ok = valid_time(v);
      else if (f == "date-time") {
        size_t t = v.find_first_of("Tt");
        ok = t != std::string::npos && valid_date(v.substr(0, t)) && valid_time(v.substr(t + 1));
      } else if (f == "uuid") ok = std::regex_match(v, uuid);
      if (!ok) return at + ": not a valid " + f;
    }
    return "";
  }

  std::string check_number(const json& s, double v, const std::string& at) {
    auto num = [&](const char* k, double& out) {
      if (!s.contains(k) || !s[k].is_number()) return false;
      out = s[k].get<double>();
      return true;
    };
    const bool ex_min4 = s.value("exclusiveMinimum", json()).is_boolean() && s["exclusiveMinimum"].get<bool>();
    const bool ex_max4 = s.value("exclusiveMaximum", json()).is_boolean() && s["exclusiveMaximum"].get<bool>();
    double b;
    if (num("minimum", b) && (ex_min4 ? v <= b : v < b)) return at + ": below minimum";
    if (num("maximum", b) && (ex_max4 ? v >= b : v > b)) return at + ": above maximum";
    if (num("exclusiveMinimum", b) && v <= b) return at + ": not above exclusiveMinimum";
    if (num("exclusiveMaximum", b) && v >= b) return at + ": not below exclusiveMaximum";
    return "";
  }

  const json& root_;
  int depth_ = 0;
};

}  // namespace

std::string json_schema_validate(const nlohmann::ordered_json& schema, const nlohmann::ordered_json& instance) {
  return Validator(schema).check(schema, instance, "");
}

}  // namespace kiln::engine
