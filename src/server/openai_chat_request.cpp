// OpenAI chat request -> Ollama /api/chat body.
#include <array>

#include "server/http_error.h"
#include "server/openai_chat.h"

namespace kiln::server::openai {
namespace {

// A data URL's base64 payload (Ollama's native `images` take base64). HTTP
// URLs are refused: the server never fetches from the network for a client.
std::string image_payload(const std::string& url) {
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0)
    throw bad_request("image URLs are not currently supported, please use base64 encoded data instead");
  static constexpr std::array<std::string_view, 5> kPrefixes = {
      "data:;base64,", "data:image/jpeg;base64,", "data:image/jpg;base64,", "data:image/png;base64,",
      "data:image/webp;base64,"};
  for (std::string_view prefix : kPrefixes) {
    if (url.compare(0, prefix.size(), prefix) != 0) continue;
    std::string payload = url.substr(prefix.size());
    const bool base64 = !payload.empty() && payload.size() % 4 == 0 &&
                        payload.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
                            std::string::npos;
    if (!base64) break;
    return payload;
  }
  throw bad_request("invalid image input");
}

// The message's content parts: text parts joined by newlines (as vLLM
// does: one message stays one turn of the template), image parts collected.
void content_parts(const ojson& parts, ojson& message) {
  std::string text;
  bool any_text = false;
  ojson images = ojson::array();
  for (const auto& part : parts) {
    if (!part.is_object()) throw bad_request("invalid message format: a content part must be an object");
    const std::string type = string_field(part, "type").value_or("");
    if (type == "text") {
      const ojson* t = field(part, "text");
      if (!t || !t->is_string()) throw bad_request("invalid message format: a text part needs a string 'text'");
      if (any_text) text += '\n';
      text += t->get<std::string>();
      any_text = true;
    } else if (type == "image_url") {
      const ojson* img = field(part, "image_url");
      const ojson* url = img && img->is_object() ? field(*img, "url") : img;
      if (!url || !url->is_string()) throw bad_request("invalid message format: an image_url part needs a url");
      images.push_back(image_payload(url->get<std::string>()));
    } else {
      throw bad_request("unsupported content part type '" + type + "' (text and image_url are supported)");
    }
  }
  message["content"] = text;
  if (!images.empty()) message["images"] = std::move(images);
}

// Assistant tool calls of the history: OpenAI carries arguments as a JSON
// string, Ollama as an object.
ojson tool_calls_in(const ojson& calls) {
  if (!calls.is_array()) type_error("tool_calls", "an array", calls);
  ojson out = ojson::array();
  for (const auto& call : calls) {
    if (!call.is_object()) type_error("tool_calls", "an array of objects", call);
    const ojson* fn = field(call, "function");
    if (!fn || !fn->is_object()) throw bad_request("invalid tool call: missing 'function'");
    ojson native_fn = ojson::object();
    native_fn["index"] = out.size();
    native_fn["name"] = string_field(*fn, "name").value_or("");
    const ojson* args = field(*fn, "arguments");
    if (!args) {
      native_fn["arguments"] = ojson::object();
    } else if (args->is_object()) {
      native_fn["arguments"] = *args;
    } else if (args->is_string()) {
      ojson parsed = ojson::parse(args->get<std::string>(), nullptr, false);
      if (!parsed.is_object()) throw bad_request("invalid tool call arguments");
      native_fn["arguments"] = std::move(parsed);
    } else {
      throw bad_request("invalid tool call arguments");
    }
    ojson native = ojson::object();
    if (auto id = string_field(call, "id")) native["id"] = *id;
    native["function"] = std::move(native_fn);
    out.push_back(std::move(native));
  }
  return out;
}

// A tool result's function name: its own `name`, else the name of the call
// it answers (last one wins for repeated ids, as Ollama).
std::string tool_name_for(const ojson& messages, const ojson& msg) {
  if (auto name = string_field(msg, "name")) return *name;
  const auto id = string_field(msg, "tool_call_id");
  if (!id) return "";
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    const ojson* calls = it->is_object() ? field(*it, "tool_calls") : nullptr;
    if (!calls || !calls->is_array()) continue;
    for (const auto& call : *calls) {
      if (call.is_object() && call.value("id", "") == *id && call.contains("function") && call["function"].is_object())
        return call["function"].value("name", "");
    }
  }
  return "";
}

ojson messages_in(const ojson& body) {
  const ojson* messages = field(body, "messages");
  if (!messages) throw bad_request("missing required parameter: 'messages'");
  if (!messages->is_array()) type_error("messages", "an array", *messages);
  if (messages->empty()) throw bad_request("[] is too short - 'messages'");
  ojson out = ojson::array();
  for (const auto& msg : *messages) {
    if (!msg.is_object()) type_error("messages", "an array of objects", msg);
    const auto role = string_field(msg, "role");
    if (!role) throw bad_request("invalid message: missing 'role'");
    ojson native = {{"role", *role}};
    const ojson* content = field(msg, "content");
    const ojson* calls = field(msg, "tool_calls");
    if (!content) {
      // Content may only be left out of a turn that calls tools.
      if (!calls) throw bad_request("invalid message content type: null");
      native["content"] = "";
    } else if (content->is_string()) {
      native["content"] = *content;
    } else if (content->is_array()) {
      content_parts(*content, native);
    } else {
      throw bad_request("invalid message content type: " + type_name(*content));
    }
    if (auto reasoning = string_field(msg, "reasoning")) native["thinking"] = *reasoning;
    else if (auto rc = string_field(msg, "reasoning_content")) native["thinking"] = *rc;
    if (calls) native["tool_calls"] = tool_calls_in(*calls);
    if (*role == "tool") {
      if (std::string name = tool_name_for(*messages, msg); !name.empty()) native["tool_name"] = name;
    }
    if (auto id = string_field(msg, "tool_call_id")) native["tool_call_id"] = *id;
    out.push_back(std::move(native));
  }
  return out;
}

// tools + tool_choice: "none" offers no tools; "auto" and "required" offer
// them all (kiln cannot force a call, the model decides); a named function
// offers only that tool.
void tools_in(const ojson& body, ojson& native) {
  const ojson* tools = field(body, "tools");
  if (!tools) return;
  if (!tools->is_array()) type_error("tools", "an array", *tools);
  for (const auto& t : *tools) {
    if (!t.is_object() || !t.contains("function") || !t["function"].is_object() ||
        !t["function"].contains("name") || !t["function"]["name"].is_string())
      throw bad_request("invalid tool: each tool needs {\"type\": \"function\", \"function\": {\"name\": ...}}");
  }
  ojson offered = *tools;
  if (const ojson* choice = field(body, "tool_choice")) {
    if (choice->is_string()) {
      const std::string c = choice->get<std::string>();
      if (c == "none") return;
      if (c != "auto" && c != "required")
        throw bad_request("invalid value for 'tool_choice': '" + c + "' (must be none, auto, required or a function)");
    } else if (choice->is_object()) {
      const ojson* fn = field(*choice, "function");
      const auto name = fn && fn->is_object() ? string_field(*fn, "name") : std::nullopt;
      if (!name) throw bad_request("invalid value for 'tool_choice': a function choice needs function.name");
      offered = ojson::array();
      for (const auto& t : *tools)
        if (t["function"]["name"] == *name) offered.push_back(t);
      if (offered.empty()) throw bad_request("tool_choice names '" + *name + "', which is not in 'tools'");
    } else {
      type_error("tool_choice", "a string or an object", *choice);
    }
  }
  if (!offered.empty()) native["tools"] = std::move(offered);
}

// response_format -> Ollama's `format`: "json" or the schema itself.
void format_in(const ojson& body, ojson& native) {
  const ojson* rf = field(body, "response_format");
  if (!rf) return;
  if (!rf->is_object()) type_error("response_format", "an object", *rf);
  const std::string type = string_field(*rf, "type").value_or("");
  if (type == "text") return;
  if (type == "json_object") {
    native["format"] = "json";
    return;
  }
  if (type != "json_schema")
    throw bad_request("invalid value for 'response_format.type': '" + type +
                      "' (must be text, json_object or json_schema)");
  const ojson* js = field(*rf, "json_schema");
  if (!js) throw bad_request("missing required parameter: 'response_format.json_schema'");
  if (!js->is_object()) type_error("response_format.json_schema", "an object", *js);
  const ojson* schema = field(*js, "schema");
  if (!schema) {
    native["format"] = "json";  // a named format without a schema: any JSON
    return;
  }
  if (!schema->is_object()) type_error("response_format.json_schema.schema", "an object", *schema);
  native["format"] = *schema;
}

// reasoning_effort (or reasoning.effort) -> think: "none" is false, the
// levels pass through (models with levels use them, others read true).
void think_in(const ojson& body, ojson& native) {
  std::optional<std::string> effort;
  if (const ojson* r = field(body, "reasoning"); r && r->is_object()) effort = string_field(*r, "effort");
  if (!effort) effort = string_field(body, "reasoning_effort");
  if (!effort || effort->empty()) return;
  if (*effort == "none") native["think"] = false;
  else if (*effort == "low" || *effort == "medium" || *effort == "high") native["think"] = *effort;
  else
    throw bad_request("invalid reasoning value: '" + *effort + "' (must be \"high\", \"medium\", \"low\", or \"none\")");
}

}  // namespace

ChatTranslation chat_request(const ojson& body) {
  ChatTranslation t;
  require_single_choice(body);
  ojson& native = t.native;
  native = ojson::object();
  if (const ojson* model = field(body, "model")) native["model"] = *model;  // the native handler checks it
  native["messages"] = messages_in(body);
  t.stream = bool_field(body, "stream").value_or(false);
  if (const ojson* so = field(body, "stream_options")) {
    if (!so->is_object()) type_error("stream_options", "an object", *so);
    t.include_usage = bool_field(*so, "include_usage").value_or(false);
  }
  tools_in(body, native);
  format_in(body, native);
  think_in(body, native);
  t.logprobs = bool_field(body, "logprobs").value_or(false);
  const auto top = integer_field(body, "top_logprobs");
  if (top && (*top < 0 || *top > 20)) throw bad_request("invalid value for 'top_logprobs': must be between 0 and 20");
  if (top && !t.logprobs) throw bad_request("'top_logprobs' requires 'logprobs' to be true");
  if (t.logprobs) {
    native["logprobs"] = true;
    native["top_logprobs"] = top.value_or(0);
  }
  ojson options = ojson::object();
  sampling_options(body, {"max_completion_tokens", "max_tokens"}, options);
  native["options"] = std::move(options);
  native["stream"] = t.stream;
  return t;
}

}  // namespace kiln::server::openai
