// Reading /api/generate and /api/chat bodies (server/generation_request.h).
#include "server/generation_request.h"

#include <cmath>
#include <limits>

#include "engine/sampling_logprobs.h"
#include "server/http_error.h"

namespace kiln::server {
namespace {

using ojson = nlohmann::ordered_json;

std::string type_name(const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::null: return "null";
    case ojson::value_t::boolean: return "bool";
    case ojson::value_t::string: return "string";
    case ojson::value_t::array: return "array";
    case ojson::value_t::object: return "object";
    default: return "number";
  }
}

[[noreturn]] void wrong_type(const std::string& field, const char* expected, const ojson& got) {
  throw bad_request("invalid value for field '" + field + "': expected " + expected + ", got " + type_name(got));
}

// The field when present and not null.
const ojson* field(const ojson& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string string_field(const ojson& object, const char* key, const std::string& path = {}) {
  const ojson* v = field(object, key);
  if (!v) return {};
  if (!v->is_string()) wrong_type(path.empty() ? key : path + "." + key, "a string", *v);
  return v->get<std::string>();
}

std::optional<bool> bool_field(const ojson& object, const char* key) {
  const ojson* v = field(object, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(key, "a boolean", *v);
  return v->get<bool>();
}

// Go decodes a JSON number into an int only when it is integral and fits.
std::optional<int64_t> int_field(const ojson& object, const char* key) {
  const ojson* v = field(object, key);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18) return int64_t(d);
  }
  wrong_type(key, "an integer", *v);
}

// Ollama's think: a boolean, or a level ("high", "medium", "low") meaning on.
void read_think(const ojson& body, NativeRequest& r) {
  const ojson* v = field(body, "think");
  if (!v) return;
  if (v->is_boolean()) {
    r.think = v->get<bool>();
    return;
  }
  if (v->is_string()) {
    const std::string level = v->get<std::string>();
    if (level == "high" || level == "medium" || level == "low") {
      r.think = true;
      r.think_level = level;
      return;
    }
    throw bad_request("invalid think value: \"" + level + "\" (must be \"high\", \"medium\", \"low\", true, or false)");
  }
  wrong_type("think", "a boolean or a string", *v);
}

// format: "json", "" (none), or a schema object (checked when the grammar is built).
void read_format(const ojson& body, NativeRequest& r) {
  const ojson* v = field(body, "format");
  if (!v) return;
  if (v->is_string()) {
    const std::string s = v->get<std::string>();
    if (s.empty()) return;
    if (s == "json") {
      r.format = s;
      return;
    }
    throw bad_request("invalid format: \"" + s + "\"; expected \"json\" or a valid JSON Schema object");
  }
  if (!v->is_object()) throw bad_request("invalid format: expected \"json\" or a valid JSON Schema object, got " + type_name(*v));
  r.format = *v;
}

bool has_images(const ojson& object) {
  const ojson* v = field(object, "images");
  if (!v) return false;
  if (!v->is_array()) wrong_type("images", "an array", *v);
  return !v->empty();
}

void read_common(const ojson& body, NativeRequest& r) {
  if (!body.is_object()) throw bad_request("request body must be a JSON object");
  r.model = string_field(body, "model");
  if (r.model.empty()) throw bad_request("model is required");
  read_format(body, r);
  if (const ojson* ka = field(body, "keep_alive")) r.keep_alive = parse_keep_alive(nlohmann::json(*ka));
  r.stream = bool_field(body, "stream").value_or(true);
  read_think(body, r);
  r.truncate = bool_field(body, "truncate").value_or(true);
  r.logprobs = bool_field(body, "logprobs").value_or(false);
  if (auto n = int_field(body, "top_logprobs")) {
    if (*n < 0 || *n > engine::kMaxTopLogprobs)
      throw bad_request("top_logprobs must be between 0 and " + std::to_string(engine::kMaxTopLogprobs));
    r.top_logprobs = int(*n);
  }
  if (const ojson* o = field(body, "options")) {
    if (!o->is_object()) wrong_type("options", "an object", *o);
    r.options = nlohmann::json(*o);
  }
  r.has_images = has_images(body);
}

// A tool call of a message: {id?, function: {name, arguments}}; arguments an
// object (a string holding one is accepted and parsed, as clients that
// forward OpenAI's string arguments send).
ojson read_tool_call(const ojson& call, const std::string& path) {
  if (!call.is_object()) wrong_type(path, "an object", call);
  const ojson* fn = field(call, "function");
  if (!fn || !fn->is_object()) throw bad_request(path + ".function must be an object with a name");
  ojson out = ojson::object();
  if (std::string id = string_field(call, "id", path); !id.empty()) out["id"] = id;
  const std::string name = string_field(*fn, "name", path + ".function");
  if (name.empty()) throw bad_request(path + ".function.name is required");
  ojson args = ojson::object();
  if (const ojson* a = field(*fn, "arguments")) {
    if (a->is_object()) {
      args = *a;
    } else if (a->is_string()) {
      args = ojson::parse(a->get<std::string>(), nullptr, false);
      if (!args.is_object()) throw bad_request(path + ".function.arguments must be a JSON object");
    } else {
      wrong_type(path + ".function.arguments", "an object", *a);
    }
  }
  out["function"] = {{"name", name}, {"arguments", std::move(args)}};
  return out;
}

ojson read_message(const ojson& m, size_t index) {
  const std::string path = "messages[" + std::to_string(index) + "]";
  if (!m.is_object()) wrong_type(path, "an object", m);
  const std::string role = string_field(m, "role", path);
  if (role != "system" && role != "user" && role != "assistant" && role != "tool")
    throw bad_request("invalid role \"" + role + "\" in " + path +
                      ": expected \"system\", \"user\", \"assistant\" or \"tool\"");
  ojson out = {{"role", role}, {"content", string_field(m, "content", path)}};
  if (std::string t = string_field(m, "thinking", path); !t.empty()) out["thinking"] = t;
  if (const ojson* calls = field(m, "tool_calls")) {
    if (!calls->is_array()) wrong_type(path + ".tool_calls", "an array", *calls);
    ojson list = ojson::array();
    for (size_t i = 0; i < calls->size(); ++i)
      list.push_back(read_tool_call((*calls)[i], path + ".tool_calls[" + std::to_string(i) + "]"));
    if (!list.empty()) out["tool_calls"] = std::move(list);
  }
  if (std::string n = string_field(m, "tool_name", path); !n.empty()) out["tool_name"] = n;
  if (std::string id = string_field(m, "tool_call_id", path); !id.empty()) out["tool_call_id"] = id;
  return out;
}

// tools: [{type: "function", function: {name, description?, parameters?}}].
ojson read_tools(const ojson& body) {
  const ojson* v = field(body, "tools");
  if (!v) return nullptr;
  if (!v->is_array()) wrong_type("tools", "an array", *v);
  if (v->empty()) return nullptr;
  for (size_t i = 0; i < v->size(); ++i) {
    const ojson& t = (*v)[i];
    const std::string path = "tools[" + std::to_string(i) + "]";
    if (!t.is_object()) wrong_type(path, "an object", t);
    const ojson* fn = field(t, "function");
    if (!fn || !fn->is_object() || string_field(*fn, "name", path + ".function").empty())
      throw bad_request(path + ".function must be an object with a name");
    if (const ojson* p = field(*fn, "parameters"); p && !p->is_object())
      wrong_type(path + ".function.parameters", "an object", *p);
  }
  return *v;
}

}  // namespace

NativeRequest parse_generate_request(const ojson& body) {
  NativeRequest r;
  read_common(body, r);
  r.prompt = string_field(body, "prompt");
  r.suffix = string_field(body, "suffix");
  r.system = string_field(body, "system");
  r.template_text = string_field(body, "template");
  r.raw = bool_field(body, "raw").value_or(false);
  if (const ojson* c = field(body, "context")) {
    if (!c->is_array()) wrong_type("context", "an array", *c);
    std::vector<int32_t> ids;
    for (const ojson& id : *c) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > std::numeric_limits<int32_t>::max())
        throw bad_request("invalid value for field 'context': expected token ids (non-negative integers)");
      ids.push_back(int32_t(id.get<int64_t>()));
    }
    r.context = std::move(ids);
  }
  if (r.raw && (!r.template_text.empty() || !r.system.empty() || (r.context && !r.context->empty())))
    throw bad_request("raw mode does not support template, system, or context");
  return r;
}

NativeRequest parse_chat_request(const ojson& body) {
  NativeRequest r;
  read_common(body, r);
  if (const ojson* msgs = field(body, "messages")) {
    if (!msgs->is_array()) wrong_type("messages", "an array", *msgs);
    for (size_t i = 0; i < msgs->size(); ++i) {
      r.messages.push_back(read_message((*msgs)[i], i));
      if (has_images((*msgs)[i])) r.has_images = true;
    }
  }
  r.tools = read_tools(body);
  return r;
}

std::vector<std::string> tool_names(const ojson& tools) {
  std::vector<std::string> names;
  if (!tools.is_array()) return names;
  for (const ojson& t : tools) names.push_back(t["function"]["name"].get<std::string>());
  return names;
}

ojson parse_ordered_body(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) throw bad_request("missing request body");
  ojson j;
  try {
    j = ojson::parse(body);
  } catch (const ojson::exception& e) {
    std::string what = e.what();
    if (auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
    throw bad_request("invalid JSON: " + what);
  }
  if (!j.is_object()) throw bad_request("request body must be a JSON object, not " + type_name(j));
  return j;
}

}  // namespace kiln::server
