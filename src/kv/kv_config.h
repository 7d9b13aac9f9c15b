#pragma once
// Shape of a paged KV cache: block size, element type, and the layer groups.
// A layer group is a set of layers that share block tables (the same blocks
// hold K and V of every layer in the group) and one attention window. Gemma 3,
// for instance, has a sliding-window group (window 512) and a global group.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kv/kv_types.h"

namespace kiln::kv {

inline constexpr int kMinBlockSize = 16;
inline constexpr int kMaxBlockSize = 64;

struct LayerGroupConfig {
  std::vector<int> layers;  // model layer indices whose K/V live in this group
  int n_kv_heads = 0;
  int k_head_dim = 0;
  int v_head_dim = 0;
  // Sliding window W: a query at position q attends keys k with q - W < k <= q
  // (llama.cpp's and HF's convention). 0 means full causal attention.
  int window = 0;
  int num_blocks = 0;  // blocks in this group's pool
};

// The disk tier of the prefix cache (docs/kv-tiers.md): full computed blocks
// are written in the background to files under `directory` (in a
// subdirectory named after the model identity's hash) and found again by
// prefix lookups, also after a restart. Enabled by KvCache::enable_disk_tier.
struct DiskTierConfig {
  std::string directory;          // KILN_KV_DIR
  uint64_t budget_bytes = 0;      // KILN_KV_DISK_BYTES: most bytes the entries take on disk
  // fdatasync every entry before renaming it into place: survives power loss,
  // not only a crash of the process (which the rename alone survives; a torn
  // file after power loss fails its checksum and is removed on read).
  bool fsync = true;
  uint64_t write_queue_bytes = uint64_t(64) << 20;  // block copies waiting for the writer; more are dropped
  int read_threads = 4;           // parallel reads when a prefix is restored
};

struct CacheConfig {
  int block_size = 32;  // tokens per block, kMinBlockSize..kMaxBlockSize
  KvType type = KvType::F16;
  std::vector<LayerGroupConfig> groups;
  int max_sequences = 256;  // dense sequence ids 0..max_sequences-1
  // Identifies everything that changes K/V for the same tokens (model weights,
  // cache element type, rope settings...). Two caches share prefix hashes only
  // when their identities are equal, e.g. across a restart with a disk tier.
  std::string model_identity;
};

// Throws kiln::Error naming the first problem (block size out of range, a
// layer in two groups, a head dim that is not a multiple of 32 for q8_0...).
void validate(const CacheConfig& config);

// Bytes of one token's row for one head.
size_t head_row_bytes(KvType type, int head_dim);

// Byte layout of one block of one group. A block is contiguous (all layers of
// the group, K then V per layer) so that copy-on-write, and later moving a block
// between device, host and disk tiers, is one memcpy. Inside a layer's K (or V)
// section the layout is [kv_head][token in block][head_dim], so a kernel reads
// one head's keys for a whole block as one contiguous run.
struct BlockLayout {
  int block_size = 0;
  int n_layers = 0;
  int n_kv_heads = 0;
  size_t k_row_bytes = 0;      // one token, one head, K
  size_t v_row_bytes = 0;      // one token, one head, V
  size_t k_head_stride = 0;    // bytes between heads inside a K section
  size_t v_head_stride = 0;
  size_t layer_stride = 0;     // bytes between consecutive layers' K sections
  size_t v_offset = 0;         // V section of a layer, relative to its K section
  size_t block_bytes = 0;      // whole block, multiple of 64
  int k_rotation = 0;          // q8_0: Hadamard group of K rows before quantizing, 0: none (kv_row_codec.h)
  int v_rotation = 0;          // the same for V rows

  size_t k_offset(int local_layer) const { return layer_stride * local_layer; }
  size_t v_offset_of(int local_layer) const { return layer_stride * local_layer + v_offset; }
};

BlockLayout make_layout(const CacheConfig& config, const LayerGroupConfig& group);

// Blocks one sequence of context_len tokens holds in a group at most while a
// chunk of chunk_tokens new tokens is being computed: all of them for a full
// attention group, about (window + chunk) / block_size for a sliding one.
// Meant for sizing pools.
int64_t max_blocks_per_sequence(const CacheConfig& config, const LayerGroupConfig& group,
                                int64_t context_len, int64_t chunk_tokens);

}  // namespace kiln::kv
