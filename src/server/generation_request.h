#pragma once
// The fields of an /api/generate or /api/chat body, read and checked the way
// Ollama's handlers read them (Go's encoding/json into api.GenerateRequest /
// api.ChatRequest): unknown fields are ignored, null counts as absent, a
// value of the wrong JSON type is a 400 naming the field. Everything here is
// checked before a model is looked up, so a malformed request never loads
// one.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/model_pool.h"

namespace kiln::server {

struct NativeRequest {
  std::string model;  // as the client wrote it (answers echo it, as Ollama's do)

  // /api/generate
  std::string prompt;
  std::string suffix;
  std::string system;
  std::string template_text;  // a Jinja template used instead of the model's
  bool raw = false;
  std::optional<std::vector<int32_t>> context;  // the previous answer's "context" (deprecated in Ollama)

  // /api/chat: [{role, content, thinking?, tool_calls? [{id?, function: {name,
  // arguments (object)}}], tool_name?}], checked.
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools = nullptr;  // [{type: "function", function: {name, ...}}], or null

  // Both.
  nlohmann::ordered_json format = nullptr;  // null (free text), "json", or a JSON schema object
  bool has_images = false;
  std::optional<KeepAlive> keep_alive;
  bool stream = true;
  std::optional<bool> think;   // unset: the model's default (on for models with thinking)
  std::string think_level;     // "low" / "medium" / "high" when think was given as a level
  bool truncate = true;
  bool logprobs = false;
  int top_logprobs = 0;
  nlohmann::json options = nlohmann::json::object();  // the request's "options" (validated later)
};

// Throw HttpError 400 for a missing model, a wrong type or a value out of
// range.
NativeRequest parse_generate_request(const nlohmann::ordered_json& body);
NativeRequest parse_chat_request(const nlohmann::ordered_json& body);

// The names of the request's tools, for the tool-call parser.
std::vector<std::string> tool_names(const nlohmann::ordered_json& tools);

// A body as an ordered JSON object (key order kept for tool schemas):
// "missing request body", "invalid JSON: ..." and a non-object are 400s.
nlohmann::ordered_json parse_ordered_body(const std::string& body);

}  // namespace kiln::server
