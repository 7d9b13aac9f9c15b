#pragma once
// POST /v1/completions as a translation of POST /api/generate (template
// applied, as Ollama's layer does: raw false), and OpenAI's legacy
// text_completion objects out of the native chunks.
#include <string>
#include <vector>

#include "server/openai_common.h"

namespace kiln::server::openai {

struct CompletionTranslation {
  ojson native;  // the /api/generate body
  bool stream = false;
  bool include_usage = false;
  // echo: the prompt is returned in front of the completion.
  std::string echo_prefix;
  int logprobs = -1;  // -1: none; else how many alternatives per token (0..5)
};

// Throws HttpError 400 for a prompt that is not one string (token arrays,
// several prompts), echo together with logprobs (prompt logprobs are not
// computed), logprobs outside 0..5, n/best_of > 1, bad types.
CompletionTranslation completion_request(const ojson& body);

// The legacy logprobs object ({tokens, token_logprobs, top_logprobs,
// text_offset}) for native logprobs; offsets start at `offset` (bytes of
// text already sent) and `offset` advances past these tokens.
ojson completion_logprobs(const ojson& native_logprobs, int alternatives, int64_t& offset);

// A non-streamed answer from the merged native chunks.
ojson text_completion(const ojson& merged, const CompletionTranslation& request, const std::string& id,
                      int64_t created);

class CompletionChunkTranslator {
 public:
  CompletionChunkTranslator(const CompletionTranslation& request, std::string id, int64_t created);
  // As ChatChunkTranslator::translate, for text_completion chunks.
  std::vector<ojson> translate(const ojson& native_chunk);
  bool done() const { return done_; }
  bool failed() const { return failed_; }

 private:
  ojson chunk(std::string text, ojson logprobs, const ojson& finish) const;

  std::string id_;
  int64_t created_;
  bool include_usage_;
  int logprobs_;
  std::string pending_echo_;  // sent with the first chunk
  int64_t offset_ = 0;
  std::string model_;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace kiln::server::openai
