#pragma once
// POST /v1/embeddings as a translation of POST /api/embed.
#include <string>
#include <vector>

#include "server/openai_common.h"

namespace kiln::server::openai {

struct EmbeddingsTranslation {
  ojson native;  // the /api/embed body: {model, input: [strings], dimensions?}
  std::string model;
  bool base64 = false;  // encoding_format "base64": little-endian float32, base64
};

// Input: a string or a non-empty array of strings (an empty string is one
// empty input, as Ollama's layer). Token arrays are refused with a 400 that
// says to send text; so are encoding formats other than float and base64,
// and dimensions below 1.
EmbeddingsTranslation embeddings_request(const ojson& body);

// {"object": "list", "data": [{"object": "embedding", "embedding", "index"}],
//  "model", "usage": {prompt_tokens, total_tokens}} from /api/embed's answer.
ojson embedding_list(const ojson& native_response, const EmbeddingsTranslation& request);

// Standard base64 of the floats' little-endian bytes (what OpenAI's SDK
// decodes with numpy.frombuffer(dtype=float32)).
std::string floats_base64(const std::vector<float>& values);

}  // namespace kiln::server::openai
