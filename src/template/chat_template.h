#pragma once
// A model's chat template: turns a conversation into the prompt text the
// model was trained on. Renders byte-identically to transformers'
// tokenizer.apply_chat_template(..., tokenize=False) for the same inputs.
//
// Inputs are nlohmann::ordered_json so that key order survives: templates
// print tool schemas and arguments with `tojson`, which keeps insertion
// order, as Python dicts do. (Parse requests with ordered_json to get the
// client's order; plain nlohmann::json sorts keys.)
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "template/template.h"

namespace kiln::tmpl {

struct ChatInputs {
  // [{role, content}], content a string or a list of {type: "text", text}
  // parts; assistant messages may carry tool_calls [{id, type, function:
  // {name, arguments}}], arguments an object (or a JSON string, passed to
  // the template unchanged); tool results use role "tool" with tool_call_id
  // and name.
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  // OpenAI-style tool schemas [{type: "function", function: {...}}], or null
  // for no tools (the template then sees `tools` = none, as with transformers).
  nlohmann::ordered_json tools = nullptr;
  bool add_generation_prompt = true;
  // More top-level variables, e.g. {"enable_thinking": false} or
  // {"date_string": "..."}; they override the standard ones.
  nlohmann::ordered_json extra_context = nlohmann::ordered_json::object();
};

class ChatTemplate {
 public:
  // Parses the template; throws TemplateError on bad syntax.
  ChatTemplate(std::string_view source, std::string bos_token = "", std::string eos_token = "");

  // Throws kiln::Error on malformed inputs, TemplateError when rendering
  // fails, TemplateRaised when the template rejects the conversation (e.g.
  // "Conversation roles must alternate user/assistant/user/assistant/...").
  std::string render(const ChatInputs& inputs) const;
  // Convenience for plain nlohmann::json inputs (keys arrive sorted).
  std::string render(const nlohmann::json& messages, const nlohmann::json& tools = nullptr,
                     bool add_generation_prompt = true,
                     const nlohmann::json& extra_context = nlohmann::json::object()) const;

  // strftime_now() reads this clock (local time when unset); tests fix it.
  void set_clock(Clock clock) { clock_ = std::move(clock); }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  Template template_;
  std::string bos_token_;
  std::string eos_token_;
  Clock clock_;
};

// The official chat template of a model family, for model files that carry
// none: "gemma3", "llama3" (Llama 3.1/3.3 with tools), "qwen2.5",
// "mistral" (Mistral 7B Instruct v0.3 with tools).
std::optional<std::string> builtin_chat_template(std::string_view name);
std::vector<std::string> builtin_chat_template_names();

}  // namespace kiln::tmpl
