#include "server/json_body.h"

#include "server/http_error.h"

namespace kiln::server {

std::string json_type_name(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return "bool";
    case nlohmann::json::value_t::string: return "string";
    case nlohmann::json::value_t::array: return "array";
    case nlohmann::json::value_t::object: return "object";
    default: return "number";
  }
}

void throw_type_error(std::string_view field, std::string_view expected, const nlohmann::json& got) {
  throw bad_request("invalid value for field '" + std::string(field) + "': expected " + std::string(expected) +
                    ", got " + json_type_name(got));
}

JsonBody JsonBody::parse(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) throw bad_request("missing request body");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e999
    // nlohmann's message names the byte position and what it expected.
    std::string what = e.what();
    if (auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
    throw bad_request("invalid JSON: " + what);
  }
  if (!j.is_object()) throw bad_request("request body must be a JSON object, not " + json_type_name(j));
  return JsonBody(std::move(j));
}

const nlohmann::json* JsonBody::field(std::string_view key) const {
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonBody::has(std::string_view key) const { return field(key) != nullptr; }

std::optional<std::string> JsonBody::string(std::string_view key) const {
  const auto* v = field(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw_type_error(key, "a string", *v);
  return v->get<std::string>();
}

std::optional<bool> JsonBody::boolean(std::string_view key) const {
  const auto* v = field(key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw_type_error(key, "a boolean", *v);
  return v->get<bool>();
}

const nlohmann::json* JsonBody::object(std::string_view key) const {
  const auto* v = field(key);
  if (v && !v->is_object()) throw_type_error(key, "an object", *v);
  return v;
}

const nlohmann::json* JsonBody::array(std::string_view key) const {
  const auto* v = field(key);
  if (v && !v->is_array()) throw_type_error(key, "an array", *v);
  return v;
}

std::optional<std::vector<std::string>> JsonBody::strings(std::string_view key) const {
  const auto* v = field(key);
  if (!v) return std::nullopt;
  std::vector<std::string> out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
    return out;
  }
  if (!v->is_array()) throw_type_error(key, "a string or an array of strings", *v);
  for (const auto& item : *v) {
    if (!item.is_string()) throw_type_error(key, "an array of strings", item);
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace kiln::server
