#pragma once
// POST /v1/chat/completions as a translation of POST /api/chat: the request
// becomes a native chat body (openai_chat_request.cpp), the native chunks
// become a chat.completion or chat.completion.chunk objects
// (openai_chat_response.cpp). Field by field as Ollama's openai package,
// with OpenAI's own behaviour where Ollama only approximates it (documented
// in docs/api.md).
#include <string>
#include <vector>

#include "server/openai_common.h"

namespace kiln::server::openai {

struct ChatTranslation {
  ojson native;  // the /api/chat body
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
};

// Throws HttpError 400 with OpenAI-style messages for anything malformed:
// missing or empty messages, content of the wrong shape, a non-data image
// URL, tool-call arguments that are not JSON, an unknown response_format,
// tool_choice naming a tool that is not offered, n > 1, bad types.
ChatTranslation chat_request(const ojson& body);

// A non-streamed answer from the merged native chunks (ChunkCollector).
ojson chat_completion(const ojson& merged, const std::string& id, int64_t created);

// Native chunks in, SSE objects out (the caller adds "data: [DONE]" once
// done() is true). Holds what one stream needs: whether the role was sent,
// tool-call indices, whether any tool call went out (finish_reason).
class ChatChunkTranslator {
 public:
  ChatChunkTranslator(std::string id, int64_t created, bool include_usage)
      : id_(std::move(id)), created_(created), include_usage_(include_usage) {}

  // The objects to send for one native chunk: nothing for an empty partial
  // chunk, one chunk with a delta, the final chunk (finish_reason) followed
  // by the usage chunk when include_usage, or an error object.
  std::vector<ojson> translate(const ojson& native_chunk);
  // True after the final chunk (send [DONE]); false after an error.
  bool done() const { return done_; }
  bool failed() const { return failed_; }

 private:
  ojson chunk(ojson delta, const ojson* logprobs, const ojson& finish) const;

  std::string id_;
  int64_t created_;
  bool include_usage_;
  std::string model_;
  bool role_sent_ = false;
  int tool_calls_sent_ = 0;
  bool done_ = false;
  bool failed_ = false;
};

// Native tool calls ({id, function: {name, arguments: object}}) as OpenAI's
// ({id, index, type: "function", function: {name, arguments: "<JSON>"}}),
// numbered from `first_index`.
ojson tool_calls_out(const ojson& native_calls, int first_index);
// Native logprobs ([{token, logprob, bytes?, top_logprobs?}]) as the entries
// of OpenAI's choices[].logprobs.content.
ojson chat_logprobs_content(const ojson& native_logprobs);

}  // namespace kiln::server::openai
