#pragma once
// Shared helpers of the KV cache tests: deterministic K/V contents that depend
// on a sequence's whole prefix (so shared blocks are only correct if they were
// computed for the same prefix), and small cache configurations.
#include <cstdint>
#include <span>
#include <vector>

#include "core/quant/quant.h"
#include "kv/kv_cache.h"
#include "kv/kv_row_codec.h"

namespace kiln::kv::testing {

// Fingerprint of tokens[0..pos] as a chain: fp(pos) = mix(fp(pos-1), token).
inline uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

inline std::vector<uint64_t> prefix_fingerprints(std::span<const Token> tokens) {
  std::vector<uint64_t> fp(tokens.size());
  uint64_t h = 0x1234;
  for (size_t i = 0; i < tokens.size(); ++i) fp[i] = h = mix(h, uint64_t(uint32_t(tokens[i])));
  return fp;
}

// One token's K (or V, with salt 1) row for a layer: n_heads * head_dim values
// in [-8, 8) with a step of 1/16, which f16 represents exactly.
inline void kv_row(uint64_t fp, int layer, int salt, int n_values, float* out) {
  uint64_t h = mix(fp, uint64_t(layer) * 2 + uint64_t(salt));
  for (int i = 0; i < n_values; ++i) {
    h = mix(h, uint64_t(i));
    out[i] = float(int(h % 256) - 128) / 16.0f;
  }
}

// What the cache must return for a row after storing it: the row rounded
// through the cache's element type, one head row at a time as stored.
inline void stored_row(KvType type, int rotation, int n_heads, int head_dim, float* row) {
  std::vector<uint8_t> buf(head_row_bytes(type, head_dim));
  std::vector<float> scratch(static_cast<size_t>(head_dim));
  for (int h = 0; h < n_heads; ++h) {
    store_row(type, rotation, row + h * head_dim, buf.data(), head_dim, scratch.data());
    load_row(type, rotation, buf.data(), row + h * head_dim, head_dim);
  }
}

// Simulates the forward pass: writes K/V of positions [from, length) of every
// layer through the slots the cache reserved.
inline void compute_positions(KvCache& cache, SeqId id, int64_t from) {
  const std::vector<uint64_t> fp = prefix_fingerprints(cache.tokens(id));
  for (int g = 0; g < cache.num_groups(); ++g) {
    const LayerGroupConfig& gc = cache.config().groups[size_t(g)];
    std::vector<float> k(size_t(gc.n_kv_heads * gc.k_head_dim)), v(size_t(gc.n_kv_heads * gc.v_head_dim));
    for (int layer : gc.layers) {
      for (int64_t pos = from; pos < cache.length(id); ++pos) {
        kv_row(fp[size_t(pos)], layer, 0, int(k.size()), k.data());
        kv_row(fp[size_t(pos)], layer, 1, int(v.size()), v.data());
        cache.write(layer, cache.slot(id, g, pos), k.data(), v.data());
      }
    }
  }
  cache.mark_computed(id);
}

// Appends tokens and computes them.
inline void append_computed(KvCache& cache, SeqId id, std::span<const Token> tokens) {
  const int64_t from = cache.length(id);
  cache.append(id, tokens);
  compute_positions(cache, id, from);
}

// Two groups like a small gemma3: layers 0 and 2 global, layer 1 sliding.
inline CacheConfig small_config(KvType type, int block_size, int window, int full_blocks, int window_blocks) {
  CacheConfig c;
  c.block_size = block_size;
  c.type = type;
  c.max_sequences = 16;
  c.model_identity = "test-model";
  LayerGroupConfig full;
  full.layers = {0, 2};
  full.n_kv_heads = 2;
  full.k_head_dim = 32;
  full.v_head_dim = 64;
  full.num_blocks = full_blocks;
  c.groups.push_back(full);
  if (window > 0) {
    LayerGroupConfig sliding;
    sliding.layers = {1};
    sliding.n_kv_heads = 1;
    sliding.k_head_dim = 64;
    sliding.v_head_dim = 32;
    sliding.window = window;
    sliding.num_blocks = window_blocks;
    c.groups.push_back(sliding);
  }
  return c;
}

}  // namespace kiln::kv::testing
