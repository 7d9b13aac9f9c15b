#include "kv/kv_config.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "kv/kv_row_codec.h"

namespace kiln::kv {

namespace {

constexpr size_t kAlign = 64;  // cache line; also enough for 512-bit loads

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

std::string group_name(size_t g) { return "KV cache layer group " + std::to_string(g); }

}  // namespace

const char* kv_type_name(KvType t) {
  switch (t) {
    case KvType::F16: return "f16";
    case KvType::Q8_0: return "q8_0";
  }
  return "unknown";
}

size_t head_row_bytes(KvType type, int head_dim) {
  switch (type) {
    case KvType::F16: return size_t(head_dim) * 2;
    case KvType::Q8_0: return size_t(head_dim) / 32 * 34;
  }
  throw kiln::Error("unknown KV cache element type");
}

void validate(const CacheConfig& config) {
  if (config.block_size < kMinBlockSize || config.block_size > kMaxBlockSize)
    throw kiln::Error("KV cache block size " + std::to_string(config.block_size) + " is outside " +
                      std::to_string(kMinBlockSize) + ".." + std::to_string(kMaxBlockSize));
  if (config.type != KvType::F16 && config.type != KvType::Q8_0)
    throw kiln::Error("KV cache element type must be f16 or q8_0");
  if (config.groups.empty()) throw kiln::Error("KV cache has no layer groups");
  if (config.max_sequences <= 0)
    throw kiln::Error("KV cache max_sequences must be positive, got " + std::to_string(config.max_sequences));
  std::set<int> seen;
  for (size_t g = 0; g < config.groups.size(); ++g) {
    const LayerGroupConfig& group = config.groups[g];
    const std::string name = group_name(g);
    if (group.layers.empty()) throw kiln::Error(name + " has no layers");
    for (int layer : group.layers) {
      if (layer < 0) throw kiln::Error(name + " lists negative layer " + std::to_string(layer));
      if (!seen.insert(layer).second)
        throw kiln::Error("layer " + std::to_string(layer) + " is in more than one KV cache layer group");
    }
    if (group.n_kv_heads <= 0) throw kiln::Error(name + " needs n_kv_heads > 0");
    for (int dim : {group.k_head_dim, group.v_head_dim}) {
      if (dim <= 0) throw kiln::Error(name + " needs positive head dims");
      if (config.type == KvType::Q8_0 && dim % 32 != 0)
        throw kiln::Error(name + ": head dim " + std::to_string(dim) +
                          " is not a multiple of 32, which q8_0 storage needs");
    }
    if (group.window < 0) throw kiln::Error(name + " has a negative window");
    if (group.num_blocks <= 0) throw kiln::Error(name + " needs num_blocks > 0");
    // Slots (block * block_size + offset) are int32 in the attention metadata.
    if (int64_t(group.num_blocks) * config.block_size > int64_t(INT32_MAX))
      throw kiln::Error(name + " has too many blocks (" + std::to_string(group.num_blocks) +
                        ") for 32-bit slot numbers");
  }
}

BlockLayout make_layout(const CacheConfig& config, const LayerGroupConfig& group) {
  BlockLayout l;
  l.block_size = config.block_size;
  l.n_layers = int(group.layers.size());
  l.n_kv_heads = group.n_kv_heads;
  l.k_row_bytes = head_row_bytes(config.type, group.k_head_dim);
  l.v_row_bytes = head_row_bytes(config.type, group.v_head_dim);
  l.k_head_stride = l.k_row_bytes * size_t(config.block_size);
  l.v_head_stride = l.v_row_bytes * size_t(config.block_size);
  l.k_rotation = k_rotation(config.type, group.k_head_dim);
  l.v_rotation = v_rotation(config.type, group.v_head_dim);
  const size_t k_section = align_up(l.k_head_stride * size_t(group.n_kv_heads));
  const size_t v_section = align_up(l.v_head_stride * size_t(group.n_kv_heads));
  l.v_offset = k_section;
  l.layer_stride = k_section + v_section;
  l.block_bytes = l.layer_stride * size_t(l.n_layers);
  return l;
}

int64_t max_blocks_per_sequence(const CacheConfig& config, const LayerGroupConfig& group,
                                int64_t context_len, int64_t chunk_tokens) {
  const int64_t bs = config.block_size;
  const int64_t all = (context_len + bs - 1) / bs;
  if (group.window == 0) return all;
  // Retained: positions >= first_query - W + 1 up to the chunk's last token;
  // the run can straddle one extra block boundary.
  const int64_t span = int64_t(group.window) - 1 + std::max<int64_t>(chunk_tokens, 1);
  return std::min(all, (span + bs - 1) / bs + 1);
}

}  // namespace kiln::kv
