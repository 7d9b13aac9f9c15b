#include "template/chat_template.h"

namespace kiln::tmpl {
namespace {

using ojson = nlohmann::ordered_json;

// transformers (5.x) fills `reasoning_content` and `thinking` from whichever
// reasoning field a message has, so that templates reading either see it.
ojson alias_reasoning_fields(const ojson& message) {
  static const char* const fields[] = {"reasoning_content", "thinking", "reasoning"};
  const ojson* reasoning = nullptr;
  for (const char* field : fields) {
    auto it = message.find(field);
    if (it != message.end() && !it->is_null()) {
      reasoning = &*it;
      break;
    }
  }
  if (!reasoning) return message;
  // Python: {"thinking": r, **message, "reasoning_content": r}
  ojson aliased = ojson::object();
  aliased["thinking"] = *reasoning;
  for (auto it = message.begin(); it != message.end(); ++it) aliased[it.key()] = it.value();
  aliased["reasoning_content"] = *reasoning;
  return aliased;
}

}  // namespace

ChatTemplate::ChatTemplate(std::string_view source, std::string bos_token, std::string eos_token)
    : source_(source), template_(source), bos_token_(std::move(bos_token)), eos_token_(std::move(eos_token)) {}

std::string ChatTemplate::render(const ChatInputs& inputs) const {
  if (!inputs.messages.is_array()) throw kiln::Error("chat messages must be a JSON array");
  if (!inputs.tools.is_null() && !inputs.tools.is_array())
    throw kiln::Error("chat tools must be a JSON array of tool schemas (or absent)");
  if (!inputs.extra_context.is_object() && !inputs.extra_context.is_null())
    throw kiln::Error("chat template extra context must be a JSON object");
  ojson messages = ojson::array();
  for (const auto& message : inputs.messages) {
    if (!message.is_object()) throw kiln::Error("chat message must be a JSON object, got: " + message.dump());
    messages.push_back(alias_reasoning_fields(message));
  }
  if (inputs.tools.is_array())
    for (const auto& tool : inputs.tools)
      if (!tool.is_object()) throw kiln::Error("chat tool schema must be a JSON object, got: " + tool.dump());

  // The variables transformers passes: messages, tools, documents,
  // add_generation_prompt and the tokenizer's special tokens.
  ObjectData context;
  context.set("messages", Value::from_json(messages));
  context.set("tools", Value::from_json(inputs.tools));
  context.set("documents", Value(nullptr));
  context.set("add_generation_prompt", Value(inputs.add_generation_prompt));
  context.set("bos_token", Value(bos_token_));
  context.set("eos_token", Value(eos_token_));
  if (inputs.extra_context.is_object())
    for (auto it = inputs.extra_context.begin(); it != inputs.extra_context.end(); ++it)
      context.set(it.key(), Value::from_json(it.value()));
  return template_.render(context, clock_);
}

std::string ChatTemplate::render(const nlohmann::json& messages, const nlohmann::json& tools,
                                 bool add_generation_prompt, const nlohmann::json& extra_context) const {
  ChatInputs inputs;
  inputs.messages = ojson::parse(messages.dump());
  inputs.tools = ojson::parse(tools.dump());
  inputs.add_generation_prompt = add_generation_prompt;
  inputs.extra_context = ojson::parse(extra_context.dump());
  return render(inputs);
}

}  // namespace kiln::tmpl
