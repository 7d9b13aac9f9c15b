// Prompt rendering, tokenizing and fitting for the native handlers
// (server/generation_prompt.h).
#include "server/generation_prompt.h"

#include <algorithm>

#include "core/error.h"
#include "server/http_error.h"
#include "template/chat_template.h"

namespace kiln::server {
namespace {

using ojson = nlohmann::ordered_json;

// What a render needs besides the messages.
struct RenderSetup {
  const tmpl::ChatTemplate* chat_template = nullptr;  // null: plain text
  ojson tools = nullptr;
  ojson extra = ojson::object();
};

std::string render(const RenderSetup& setup, const ojson& messages) {
  if (!setup.chat_template) {
    std::string text;
    for (const auto& m : messages) {
      const std::string& content = m["content"].get_ref<const std::string&>();
      if (content.empty()) continue;
      text += (text.empty() ? "" : "\n\n") + content;
    }
    return text;
  }
  tmpl::ChatInputs in;
  in.messages = messages;
  in.tools = setup.tools;
  in.add_generation_prompt = true;
  in.extra_context = setup.extra;
  try {
    return setup.chat_template->render(in);
  } catch (const kiln::Error& e) {
    // A template that rejects the conversation (roles out of order, a tool
    // message it cannot place): the request's fault.
    throw bad_request(std::string("template error: ") + e.what());
  }
}

std::vector<int32_t> tokenize(const tok::Tokenizer& tk, std::string_view text) {
  std::vector<int32_t> ids = tk.encode(text, false, true);
  if (tk.add_bos() && tk.bos() >= 0 && (ids.empty() || ids.front() != tk.bos())) ids.insert(ids.begin(), tk.bos());
  return ids;
}

// Ollama's runner: keep num_keep tokens (one more for BOS), drop what follows
// them until the rest fits.
void fit(BuiltPrompt& p, const tok::Tokenizer& tk, const PromptLimits& limits) {
  const size_t room = size_t(std::max(limits.limit - 1, 1));
  if (p.tokens.size() <= room) return;
  if (!limits.truncate) throw bad_request("the input length exceeds the context length");
  size_t keep = limits.num_keep < 0 ? room : size_t(limits.num_keep);
  if (tk.add_bos() && tk.bos() >= 0) ++keep;
  keep = std::min(keep, room - 1);
  std::vector<int32_t> cut(p.tokens.begin(), p.tokens.begin() + long(keep));
  cut.insert(cut.end(), p.tokens.end() - long(room - keep), p.tokens.end());
  p.tokens = std::move(cut);
  p.truncated = true;
}

ojson think_context(std::optional<bool> think, const std::string& level) {
  ojson extra = ojson::object();
  if (think) extra["enable_thinking"] = *think;
  if (!level.empty()) extra["reasoning_effort"] = level;
  return extra;
}

const tok::Tokenizer& tokenizer_of(const LoadedModel& model) { return model.scheduler->engine().tokenizer(); }

ojson stored_messages(const LoadedModel& model) {
  ojson out = ojson::array();
  for (const auto& m : model.view.messages) out.push_back({{"role", m.role}, {"content", m.content}});
  return out;
}

}  // namespace

ojson template_message(const ojson& m) {
  ojson out = {{"role", m["role"]}, {"content", m["content"]}};
  if (m.contains("thinking")) {
    out["thinking"] = m["thinking"];
    out["reasoning_content"] = m["thinking"];
  }
  if (m.contains("tool_calls")) {
    ojson calls = ojson::array();
    for (const auto& c : m["tool_calls"]) {
      ojson call = ojson::object();
      if (c.contains("id")) call["id"] = c["id"];
      call["type"] = "function";
      call["function"] = c["function"];
      calls.push_back(std::move(call));
    }
    out["tool_calls"] = std::move(calls);
  }
  if (m.contains("tool_name")) out["name"] = m["tool_name"];
  if (m.contains("tool_call_id")) out["tool_call_id"] = m["tool_call_id"];
  return out;
}

BuiltPrompt build_chat_prompt(const LoadedModel& model, const NativeRequest& request, std::optional<bool> think,
                              const PromptLimits& limits) {
  const tok::Tokenizer& tk = tokenizer_of(model);
  ojson msgs = stored_messages(model);
  for (const auto& m : request.messages) msgs.push_back(template_message(m));
  const bool starts_with_system = !request.messages.empty() && request.messages[0]["role"] == "system";
  if (!starts_with_system && !model.view.system.empty())
    msgs.insert(msgs.begin(), ojson{{"role", "system"}, {"content", model.view.system}});

  RenderSetup setup;
  setup.chat_template = model.chat_template.get();
  setup.tools = request.tools;
  setup.extra = think_context(think, request.think_level);

  BuiltPrompt p;
  p.text = render(setup, msgs);
  p.tokens = tokenize(tk, p.text);
  // Drop the oldest non-system messages, one at a time, until it fits; the
  // last message always stays.
  const size_t room = size_t(std::max(limits.limit - 1, 1));
  size_t first = 0;  // the oldest message still in, among the non-system ones
  while (p.tokens.size() > room) {
    while (first + 1 < msgs.size() && msgs[first]["role"] == "system") ++first;
    if (first + 1 >= msgs.size()) break;
    ++first;
    // Start at a user turn: templates that insist on alternating roles
    // (gemma's) reject a conversation opening with the assistant.
    while (first + 1 < msgs.size() && msgs[first]["role"] != "user") ++first;
    ojson kept = ojson::array();
    for (size_t i = 0; i < msgs.size(); ++i)
      if (i >= first || msgs[i]["role"] == "system") kept.push_back(msgs[i]);
    p.text = render(setup, kept);
    p.tokens = tokenize(tk, p.text);
  }
  fit(p, tk, limits);
  return p;
}

BuiltPrompt build_generate_prompt(const LoadedModel& model, const NativeRequest& request, std::optional<bool> think,
                                  const PromptLimits& limits) {
  const tok::Tokenizer& tk = tokenizer_of(model);
  BuiltPrompt p;
  if (request.raw) {
    p.text = request.prompt;
    p.tokens = tokenize(tk, p.text);
    fit(p, tk, limits);
    return p;
  }

  // The request's template replaces the model's; it may read the prompt
  // parts directly (`prompt`, `system`, `suffix`) or the usual `messages`.
  std::unique_ptr<tmpl::ChatTemplate> override_template;
  RenderSetup setup;
  setup.chat_template = model.chat_template.get();
  setup.extra = think_context(think, request.think_level);
  const std::string system = !request.system.empty() ? request.system : model.view.system;
  if (!request.template_text.empty()) {
    const std::string bos = tk.bos() >= 0 ? std::string(tk.token_text(tk.bos())) : std::string();
    const std::string eos = tk.eos() >= 0 ? std::string(tk.token_text(tk.eos())) : std::string();
    try {
      override_template = std::make_unique<tmpl::ChatTemplate>(request.template_text, bos, eos);
    } catch (const kiln::Error& e) {
      throw bad_request(std::string("template error: ") + e.what());
    }
    setup.chat_template = override_template.get();
    setup.extra["prompt"] = request.prompt;
    setup.extra["system"] = system;
    setup.extra["suffix"] = request.suffix;
  }

  ojson msgs = ojson::array();
  if (!system.empty()) msgs.push_back({{"role", "system"}, {"content", system}});
  if (!request.context)
    for (const auto& m : stored_messages(model)) msgs.push_back(m);
  msgs.push_back({{"role", "user"}, {"content", request.prompt}});
  p.text = render(setup, msgs);
  if (request.context && !request.context->empty()) {
    // Ollama puts the earlier exchange's text in front of the new prompt.
    for (int32_t id : *request.context)
      if (id >= int32_t(tk.size())) throw bad_request("invalid value for field 'context': token id out of range");
    p.text = tk.decode(*request.context) + p.text;
  }
  p.tokens = tokenize(tk, p.text);
  fit(p, tk, limits);
  return p;
}

}  // namespace kiln::server
