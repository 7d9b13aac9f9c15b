// JSON schema to GBNF (see json_schema.h for the supported subset).
//
// Every value rule matches the value alone; containers put `ws` after each
// member value and after each punctuation mark, so whitespace appears only
// where JSON allows it and never twice in a row.
#include "engine/json_schema.h"

#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"

namespace kiln::engine {
namespace {

using json = nlohmann::ordered_json;

// GBNF string literal for raw bytes.
std::string literal(std::string_view bytes) {
  std::string out = "\"";
  for (unsigned char c : bytes) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// The primitive rules; added to the output only when used.
const std::map<std::string, std::string>& primitives() {
  static const std::map<std::string, std::string> p = {
      {"ws", "\"\" | \" \" | \"\\n\" [ \\t]{0,20}"},
      {"value", "object | array | string | number | boolean | null"},
      {"object", "\"{\" ws ( string ws \":\" ws value ws ( \",\" ws string ws \":\" ws value ws )* )? \"}\""},
      {"array", "\"[\" ws ( value ws ( \",\" ws value ws )* )? \"]\""},
      {"string", "\"\\\"\" char* \"\\\"\""},
      {"char", "[^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )"},
      {"number", "\"-\"? int-part frac-part? exp-part?"},
      {"nonneg-number", "int-part frac-part? exp-part?"},
      {"integer", "\"-\"? int-part"},
      {"int-part", "\"0\" | [1-9] [0-9]{0,15}"},
      {"frac-part", "\".\" [0-9]{1,16}"},
      {"exp-part", "[eE] [-+]? [0-9]{1,2}"},
      {"boolean", "\"true\" | \"false\""},
      {"null", "\"null\""},
      {"date", "[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"3\" [01] )"},
      {"time", "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,9} )? "
               "( \"Z\" | \"z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )"},
      {"hex", "[0-9a-fA-F]"},
  };
  return p;
}

// Which primitives each primitive uses (to emit a closed set of rules).
const std::map<std::string, std::vector<std::string>>& primitive_deps() {
  static const std::map<std::string, std::vector<std::string>> d = {
      {"value", {"object", "array", "string", "number", "boolean", "null"}},
      {"object", {"ws", "string", "value"}},
      {"array", {"ws", "value"}},
      {"string", {"char"}},
      {"number", {"int-part", "frac-part", "exp-part"}},
      {"nonneg-number", {"int-part", "frac-part", "exp-part"}},
      {"integer", {"int-part"}},
  };
  return d;
}

class Converter {
 public:
  explicit Converter(const json& root) : root_(root) {}

  std::string run() {
    std::string root_expr = visit(root_, "root", "");
    std::string out = "root ::= " + root_expr + "\n";
    for (auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    for (auto& name : used_primitives_) out += name + " ::= " + primitives().at(name) + "\n";
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& msg) const {
    throw kiln::Error("JSON schema at " + (path.empty() ? std::string("/") : path) + ": " + msg);
  }

  std::string use(const std::string& primitive) {
    if (used_primitives_.insert(primitive).second) {
      auto it = primitive_deps().find(primitive);
      if (it != primitive_deps().end())
        for (auto& dep : it->second) use(dep);
    }
    return primitive;
  }

  std::string new_rule(const std::string& hint, std::string body) {
    std::string base;
    for (char c : hint) base += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '-';
    if (base.empty()) base = "r";
    base = "s-" + base;  // never clashes with a primitive
    std::string name = base;
    for (int i = 2; taken_.count(name); ++i) name = base + "-" + std::to_string(i);
    taken_.insert(name);
    rules_.emplace_back(name, std::move(body));
    return name;
  }

  void check_keywords(const json& s, const std::string& path) const {
    static const std::set<std::string> unsupported = {
        "not", "if", "then", "else", "patternProperties", "propertyNames", "dependentSchemas",
        "dependentRequired", "dependencies", "contains", "minContains", "maxContains", "multipleOf",
        "minProperties", "maxProperties", "unevaluatedProperties", "unevaluatedItems", "$dynamicRef",
        "$recursiveRef"};
    for (auto& [k, v] : s.items()) {
      if (unsupported.count(k)) fail(path, "keyword '" + k + "' is not supported");
      if (k == "uniqueItems" && v.is_boolean() && v.get<bool>()) fail(path, "keyword 'uniqueItems' is not supported");
    }
  }

  const json& resolve(const std::string& ref, const std::string& path) const {
    if (ref.rfind("#", 0) != 0) fail(path, "only local $ref (#/...) is supported, got '" + ref + "'");
    try {
      return root_.at(json::json_pointer(ref.substr(1)));
    } catch (const std::exception&) {
      fail(path, "$ref '" + ref + "' does not resolve");
    }
  }

  std::string visit(const json& s, const std::string& hint, const std::string& path) {
    if (s.is_boolean()) {
      if (!s.get<bool>()) fail(path, "schema false matches nothing");
      return use("value");
    }
    if (!s.is_object()) fail(path, "a schema must be an object or a boolean");
    check_keywords(s, path);

    if (s.contains("$ref")) {
      const std::string ref = s["$ref"].get<std::string>();
      auto it = refs_.find(ref);
      if (it != refs_.end()) return it->second;
      // Name the rule before visiting, so recursive schemas refer to it.
      std::string name = new_rule(ref.substr(ref.rfind('/') + 1), "");
      refs_[ref] = name;
      std::string body = visit(resolve(ref, path + "/$ref"), name, ref.substr(1));
      for (auto& r : rules_)
        if (r.first == name) r.second = body;
      return name;
    }
    if (s.contains("nullable") && s["nullable"] == true) {
      json copy = s;
      copy.erase("nullable");
      return "( " + visit(copy, hint, path) + " | " + use("null") + " )";
    }
    if (s.contains("const")) return literal(s["const"].dump(-1, ' ', false));
    if (s.contains("enum")) {
      if (!s["enum"].is_array() || s["enum"].empty()) fail(path, "enum must be a non-empty array");
      std::string alts;
      for (auto& v : s["enum"]) alts += (alts.empty() ? "" : " | ") + literal(v.dump(-1, ' ', false));
      return "( " + alts + " )";
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      const json& list = s[key];
      if (!list.is_array() || list.empty()) fail(path, std::string(key) + " must be a non-empty array");
      std::string alts;
      for (size_t i = 0; i < list.size(); ++i) {
        json branch = list[i];
        // Sibling keywords (type, properties, ...) apply to every branch.
        if (branch.is_object())
          for (auto& [k, v] : s.items())
            if (k != key && !branch.contains(k) && k != "title" && k != "description" && k != "default") branch[k] = v;
        alts += (alts.empty() ? "" : " | ") + visit(branch, hint + "-" + std::to_string(i),
                                                    path + "/" + key + "/" + std::to_string(i));
      }
      return new_rule(hint, alts);
    }
    if (s.contains("allOf")) return visit(merge_all_of(s, path), hint, path);

    if (s.contains("type") && s["type"].is_array()) {
      std::string alts;
      for (auto& t : s["type"]) {
        json copy = s;
        copy["type"] = t;
        alts += (alts.empty() ? "" : " | ") + visit(copy, hint, path);
      }
      if (alts.empty()) fail(path, "type must not be an empty list");
      return "( " + alts + " )";
    }
    std::string type;
    if (s.contains("type")) {
      if (!s["type"].is_string()) fail(path, "type must be a string or a list of strings");
      type = s["type"].get<std::string>();
    } else if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required")) {
      type = "object";
    } else if (s.contains("items") || s.contains("prefixItems")) {
      type = "array";
    } else {
      return use("value");
    }
    if (type == "object") return object_rule(s, hint, path);
    if (type == "array") return array_rule(s, hint, path);
    if (type == "string") return string_rule(s, hint, path);
    if (type == "integer") return integer_rule(s, hint, path);
    if (type == "number") {
      for (const char* k : {"minimum", "exclusiveMinimum"})
        if (s.contains(k) && s[k].is_number() && s[k].get<double>() >= 0) return use("nonneg-number");
      return use("number");
    }
    if (type == "boolean") return use("boolean");
    if (type == "null") return use("null");
    fail(path, "unknown type '" + type + "'");
  }

  json merge_all_of(const json& s, const std::string& path) {
    const json& list = s["allOf"];
    if (!list.is_array() || list.empty()) fail(path, "allOf must be a non-empty array");
    json merged = s;
    merged.erase("allOf");
    if (list.size() == 1 && merged.empty()) return list[0];
    for (size_t i = 0; i < list.size(); ++i) {
      json part = list[i];
      while (part.is_object() && part.contains("$ref")) part = resolve(part["$ref"].get<std::string>(), path);
      if (list.size() == 1 && !part.contains("properties")) {
        for (auto& [k, v] : part.items())
          if (!merged.contains(k)) merged[k] = v;
        continue;
      }
      if (!part.is_object() || !(part.value("type", "object") == "object"))
        fail(path + "/allOf/" + std::to_string(i), "allOf is supported for one schema or for objects only");
      merged["type"] = "object";
      const json part_props = part.value("properties", json::object());
      for (auto& [k, v] : part_props.items()) merged["properties"][k] = v;
      for (auto& r : part.value("required", json::array())) merged["required"].push_back(r);
      if (part.contains("additionalProperties")) merged["additionalProperties"] = part["additionalProperties"];
    }
    return merged;
  }

  std::string object_rule(const json& s, const std::string& hint, const std::string& path) {
    use("ws");
    const json props = s.value("properties", json::object());
    if (!props.is_object()) fail(path, "properties must be an object");
    std::set<std::string> required;
    for (auto& r : s.value("required", json::array())) required.insert(r.get<std::string>());
    for (auto& r : required)
      if (!props.contains(r)) fail(path, "required property '" + r + "' is not in properties");
    std::string extra_value;  // empty: no additional properties
    if (s.contains("additionalProperties")) {
      const json& ap = s["additionalProperties"];
      if (!(ap.is_boolean() && !ap.get<bool>())) extra_value = visit(ap, hint + "-extra", path + "/additionalProperties");
    } else if (props.empty()) {
      extra_value = use("value");  // {"type": "object"}: any object
    }
    std::vector<std::string> kvs;
    std::vector<bool> req;
    for (auto& [name, sub] : props.items()) {
      std::string value = visit(sub, hint + "-" + name, path + "/properties/" + name);
      kvs.push_back(literal(json(name).dump(-1, ' ', false)) + " ws \":\" ws " + value + " ws");
      req.push_back(required.count(name) > 0);
    }
    std::string extra_kv;
    if (!extra_value.empty()) extra_kv = use("string") + " ws \":\" ws " + extra_value + " ws";
    // tail_i: what may follow once something was written, from property i.
    std::string tail = extra_kv.empty() ? "" : new_rule(hint + "-rest", "( \",\" ws " + extra_kv + " )*");
    std::vector<std::string> tails(kvs.size() + 1);
    tails[kvs.size()] = tail;
    for (size_t i = kvs.size(); i-- > 0;) {
      std::string item = "\",\" ws " + kvs[i];
      std::string body = req[i] ? item : "( " + item + " )?";
      if (!tails[i + 1].empty()) body += " " + tails[i + 1];
      tails[i] = kvs.size() - i > 1 || !tails[i + 1].empty() ? new_rule(hint + "-tail", body) : body;
    }
    // The first member written: property i (only optional ones before it),
    // or an extra one when every declared property is optional.
    std::string first;
    bool all_optional = true;
    for (size_t i = 0; i < kvs.size(); ++i) {
      first += (first.empty() ? "" : " | ") + kvs[i] + (tails[i + 1].empty() ? "" : " " + tails[i + 1]);
      if (req[i]) {
        all_optional = false;
        break;
      }
    }
    if (all_optional && !extra_kv.empty()) first += (first.empty() ? "" : " | ") + extra_kv + (tail.empty() ? "" : " " + tail);
    if (first.empty()) return new_rule(hint, "\"{\" ws \"}\"");
    return new_rule(hint, "\"{\" ws ( " + first + " )" + (all_optional ? "?" : "") + " \"}\"");
  }

  std::string array_rule(const json& s, const std::string& hint, const std::string& path) {
    use("ws");
    const long long min_items = s.value("minItems", 0LL);
    const long long max_items = s.contains("maxItems") ? s["maxItems"].get<long long>() : -1;
    if (min_items < 0 || (max_items >= 0 && max_items < min_items)) fail(path, "minItems/maxItems are inconsistent");
    if (max_items > 10000 || min_items > 10000) fail(path, "minItems/maxItems over 10000 are not supported");
    std::vector<std::string> prefix;
    if (s.contains("prefixItems")) {
      const json& p = s["prefixItems"];
      for (size_t i = 0; i < p.size(); ++i)
        prefix.push_back(visit(p[i], hint + "-" + std::to_string(i), path + "/prefixItems/" + std::to_string(i)));
    }
    std::string item;
    bool items_allowed = true;
    if (s.contains("items")) {
      const json& it = s["items"];
      if (it.is_boolean() && !it.get<bool>()) items_allowed = false;
      else item = visit(it, hint + "-item", path + "/items");
    } else {
      item = prefix.empty() ? use("value") : "";
      items_allowed = prefix.empty();
      if (!prefix.empty()) {  // JSON Schema allows any further items; keep the tuple closed unless asked
        items_allowed = false;
      }
    }
    const long long n_prefix = static_cast<long long>(prefix.size());
    // Every prefix item is written (Pydantic tuples are fixed-length), so a
    // minItems below their count changes nothing.
    long long lo = std::max(min_items - n_prefix, 0LL);
    long long hi = items_allowed ? (max_items < 0 ? -1 : max_items - n_prefix) : 0;
    if (hi >= 0 && hi < lo) fail(path, "minItems cannot be met with these items");
    if (n_prefix > 0 && max_items >= 0 && max_items < n_prefix) fail(path, "maxItems is below the number of prefixItems");
    // Sequence: prefix items, then lo..hi items, comma-separated.
    std::string seq;
    for (auto& p : prefix) seq += (seq.empty() ? "" : " \",\" ws ") + p + " ws";
    if (hi != 0) {
      const std::string one = item + " ws";
      const std::string more = "\",\" ws " + one;
      std::string rest;
      if (seq.empty()) {
        // first item, then (lo-1 .. hi-1) more; all optional when lo == 0
        const long long rlo = std::max(lo - 1, 0LL), rhi = hi < 0 ? -1 : hi - 1;
        rest = one + " " + repeat(more, rlo, rhi);
        seq = lo == 0 ? "( " + rest + " )?" : rest;
      } else {
        seq += " " + repeat(more, lo, hi);
      }
    }
    return new_rule(hint, "\"[\" ws " + (seq.empty() ? "" : seq + " ") + "\"]\"");
  }

  static std::string repeat(const std::string& x, long long lo, long long hi) {
    if (hi == 0) return "";
    std::string r = "( " + x + " )";
    if (lo == 0 && hi < 0) return r + "*";
    if (lo == 1 && hi < 0) return r + "+";
    if (lo == 0 && hi == 1) return r + "?";
    return r + "{" + std::to_string(lo) + "," + (hi < 0 ? "" : std::to_string(hi)) + "}";
  }

  std::string string_rule(const json& s, const std::string& hint, const std::string& path) {
    const long long min_len = s.value("minLength", 0LL);
    const long long max_len = s.contains("maxLength") ? s["maxLength"].get<long long>() : -1;
    if (min_len < 0 || (max_len >= 0 && max_len < min_len)) fail(path, "minLength/maxLength are inconsistent");
    if (min_len > 10000 || max_len > 10000) fail(path, "minLength/maxLength over 10000 are not supported");
    const std::string quote = "\"\\\"\"";
    if (s.contains("pattern")) {
      if (s.contains("minLength") || s.contains("maxLength")) fail(path, "pattern together with minLength/maxLength is not supported");
      try {
        return new_rule(hint, quote + " " + json_pattern_to_gbnf(s["pattern"].get<std::string>()) + " " + quote);
      } catch (const kiln::Error& e) {
        fail(path, e.what());
      }
    }
    if (s.contains("format")) {
      const std::string f = s["format"].get<std::string>();
      if (f == "date") return new_rule(hint, quote + " " + use("date") + " " + quote);
      if (f == "time") return new_rule(hint, quote + " " + use("time") + " " + quote);
      if (f == "date-time") return new_rule(hint, quote + " " + use("date") + " [Tt] " + use("time") + " " + quote);
      if (f == "uuid") {
        use("hex");
        return new_rule(hint, quote + " hex{8} \"-\" hex{4} \"-\" hex{4} \"-\" hex{4} \"-\" hex{12} " + quote);
      }
      // Other formats (email, uri, ...) are annotations: any string.
    }
    if (min_len == 0 && max_len < 0) return use("string");
    use("char");
    return new_rule(hint, quote + " char{" + std::to_string(min_len) + "," + (max_len < 0 ? "" : std::to_string(max_len)) +
                              "} " + quote);
  }

  std::string integer_rule(const json& s, const std::string& hint, const std::string& path) {
    long long lo = 0, hi = 0;
    bool has_lo = false, has_hi = false;
    auto bound = [&](const char* key, bool lower, bool exclusive) {
      if (!s.contains(key)) return;
      const json& v = s[key];
      if (v.is_boolean()) return;  // draft-4 exclusiveMinimum: true, read with minimum
      if (!v.is_number()) fail(path, std::string(key) + " must be a number");
      const double d = v.get<double>();
      if (std::abs(d) > 9e15) fail(path, std::string(key) + " is too large");
      // draft 4 wrote exclusive bounds as minimum + exclusiveMinimum: true
      const json flag = s.value(lower ? "exclusiveMinimum" : "exclusiveMaximum", json());
      if (flag.is_boolean() && flag.get<bool>()) exclusive = true;
      long long b = lower ? static_cast<long long>(std::ceil(d)) : static_cast<long long>(std::floor(d));
      if (exclusive && static_cast<double>(b) == d) b += lower ? 1 : -1;
      if (lower) {
        lo = has_lo ? std::max(lo, b) : b;
        has_lo = true;
      } else {
        hi = has_hi ? std::min(hi, b) : b;
        has_hi = true;
      }
    };
    bound("minimum", true, false);
    bound("exclusiveMinimum", true, true);
    bound("maximum", false, false);
    bound("exclusiveMaximum", false, true);
    if (!has_lo && !has_hi) return use("integer");
    if (has_lo && has_hi && lo > hi) fail(path, "integer bounds leave no value");
    return new_rule(hint, json_integer_range_gbnf(has_lo ? &lo : nullptr, has_hi ? &hi : nullptr));
  }

  const json& root_;
  std::vector<std::pair<std::string, std::string>> rules_;
  std::set<std::string> taken_;
  std::map<std::string, std::string> refs_;
  std::set<std::string> used_primitives_;
};

}  // namespace

std::string json_object_gbnf() {
  std::string out = "root ::= object\n";
  for (const char* r : {"object", "value", "array", "string", "char", "number", "int-part", "frac-part", "exp-part",
                        "boolean", "null", "ws"})
    out += std::string(r) + " ::= " + primitives().at(r) + "\n";
  return out;
}

std::string json_value_gbnf() {
  std::string out = json_object_gbnf();
  out.replace(0, std::string("root ::= object").size(), "root ::= value");
  return out;
}

std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema) { return Converter(schema).run(); }

std::shared_ptr<const Grammar> json_schema_grammar(const nlohmann::ordered_json& schema) {
  return Grammar::parse(json_schema_to_gbnf(schema));
}

}  // namespace kiln::engine
