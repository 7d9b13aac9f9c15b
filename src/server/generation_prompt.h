#pragma once
// The prompt of an /api/chat or /api/generate request, as token ids that fit
// the context, built the way Ollama builds it:
//   chat:     the model's MESSAGEs, then the request's messages, with the
//             model's SYSTEM first when the request starts with no system
//             message; rendered with the chat template (tools as `tools`,
//             think as `enable_thinking`). When the prompt does not fit, the
//             oldest messages that are not system messages are dropped (the
//             last one always stays), as Ollama's chatPrompt does, and
//             on to the next user message (as `kiln run` does: templates
//             such as gemma's reject a conversation opening with the assistant).
//   generate: system (the request's, else the model's), the model's MESSAGEs
//             (unless a context is given), and the prompt as one user turn,
//             rendered with the template (or the request's `template`);
//             `raw` sends the prompt as is; a `context` from an earlier
//             answer is put in front.
// A model without a chat template gets the messages' texts joined by blank
// lines (as `kiln run` does). Tokens are read with the vocabulary's special
// tokens and BOS added when it asks for one. What still does not fit is cut
// from the front, keeping the first num_keep tokens (Ollama's runner), or is
// a 400 "the input length exceeds the context length" with truncate false.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/generation_request.h"
#include "server/model_pool.h"

namespace kiln::server {

struct BuiltPrompt {
  std::string text;              // the rendered text (before any cut)
  std::vector<int32_t> tokens;   // what the model reads; size() < limit
  bool truncated = false;        // tokens were cut from the front
};

struct PromptLimits {
  int limit = 0;     // tokens of the sequence: the prompt leaves room for one generated token
  int num_keep = 4;  // tokens kept at the front when cutting (-1: as many as fit)
  bool truncate = true;
};

// `think`: the enable_thinking the template sees (unset: not passed).
BuiltPrompt build_chat_prompt(const LoadedModel& model, const NativeRequest& request, std::optional<bool> think,
                              const PromptLimits& limits);
BuiltPrompt build_generate_prompt(const LoadedModel& model, const NativeRequest& request, std::optional<bool> think,
                                  const PromptLimits& limits);

// A request message (generation_request.h's shape) in the conventions chat
// templates expect: tool_calls as [{type: "function", function: {name,
// arguments}}], thinking also as reasoning_content, tool_name as name.
nlohmann::ordered_json template_message(const nlohmann::ordered_json& message);

}  // namespace kiln::server
