#pragma once
// Tokenizer metadata for synthetic models: a vocabulary of the real size and
// layout (byte tokens, special tokens at their real ids with their real token
// types, bos/eos ids) whose ordinary tokens are made up. Good enough for
// llama.cpp and kiln to load, tokenize and detokenize; the token strings are
// not the real ones, so token ids for a given text differ from the real model.
//
// The vocabulary does not depend on the weight seed: every synthetic model of
// one preset has the same tokenizer.
#include <string>
#include <utility>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/presets.h"

namespace kiln::gguf {

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

// All tokenizer.* keys for the preset's vocabulary, including the chat template.
std::vector<std::pair<std::string, Value>> synthetic_tokenizer_metadata(const Preset& p);

}  // namespace kiln::gguf
