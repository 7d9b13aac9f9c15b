#pragma once
// Identity of full blocks for prefix sharing. A block's hash covers its parent
// block's hash, its own token ids and the model identity, so it names the
// whole prefix up to the block's end (vLLM's scheme): two sequences share a
// block only when every token before it and in it is equal, and only for the
// same model. XXH3-128 keeps accidental collisions out of reach (2^-64 at a
// billion cached blocks).
#include <span>
#include <string_view>

#include "kv/kv_types.h"

namespace kiln::kv {

// The hash the chain starts from: a digest of the model identity string.
BlockHash model_root_hash(std::string_view model_identity);

// Hash of a full block whose parent block hashed to parent (model_root for
// the first block) and whose token ids are tokens.
BlockHash hash_block(const BlockHash& parent, const BlockHash& model_root, std::span<const Token> tokens);

}  // namespace kiln::kv
