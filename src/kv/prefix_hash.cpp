#include "kv/prefix_hash.h"

#include <xxhash.h>

#include <cstring>
#include <string>

#include "kv/kv_config.h"

namespace kiln::kv {

namespace {
BlockHash from_xxh(const XXH128_hash_t& h) { return BlockHash{h.low64, h.high64}; }
}  // namespace

BlockHash model_root_hash(std::string_view model_identity) {
  // A fixed prefix keeps the root distinct from any block hash input layout.
  std::string input = "kiln-kv-model-identity:";
  input.append(model_identity);
  return from_xxh(XXH3_128bits(input.data(), input.size()));
}

BlockHash hash_block(const BlockHash& parent, const BlockHash& model_root, std::span<const Token> tokens) {
  // One contiguous buffer: a single XXH3 call is much faster than streaming
  // for these few hundred bytes. Layout: parent, model root, token ids.
  if (tokens.size() > size_t(kMaxBlockSize)) throw kiln::Error("hash_block: more tokens than a block holds");
  alignas(16) unsigned char buf[2 * sizeof(BlockHash) + kMaxBlockSize * sizeof(Token)];
  std::memcpy(buf, &parent, sizeof parent);
  std::memcpy(buf + sizeof parent, &model_root, sizeof model_root);
  std::memcpy(buf + 2 * sizeof parent, tokens.data(), tokens.size_bytes());
  return from_xxh(XXH3_128bits(buf, 2 * sizeof parent + tokens.size_bytes()));
}

}  // namespace kiln::kv
