// Storage access for backends and reference code: where a layer's K and V
// live inside a block, and f32 write/gather helpers that convert to and from
// the cache's element type (f16 or rotated ggml q8_0, kv_row_codec.h).
#include <algorithm>
#include <string>
#include <vector>

#include "kv/kv_cache.h"
#include "kv/kv_row_codec.h"

namespace kiln::kv {

namespace {

void require_host(const BlockPool& pool, int group, const char* what) {
  if (!pool.storage().host_accessible())
    throw kiln::Error(std::string("KV ") + what + ": layer group " + std::to_string(group) +
                      " lives in device memory; only its backend's kernels can reach it");
}
}  // namespace

void KvCache::move_storage(const std::function<std::unique_ptr<BlockStorage>(size_t bytes, int group)>& make) {
  for (size_t g = 0; g < pools_.size(); ++g) pools_[g].replace_storage(make(pools_[g].storage().bytes(), int(g)));
}

uint8_t* KvCache::k_data(int layer, BlockId block) {
  const int g = group_of_layer(layer);
  return pools_[size_t(g)].data(block) + layout(g).k_offset(layer_local_[size_t(layer)]);
}

uint8_t* KvCache::v_data(int layer, BlockId block) {
  const int g = group_of_layer(layer);
  return pools_[size_t(g)].data(block) + layout(g).v_offset_of(layer_local_[size_t(layer)]);
}

const uint8_t* KvCache::k_data(int layer, BlockId block) const {
  const int g = group_of_layer(layer);
  return pools_[size_t(g)].data(block) + layout(g).k_offset(layer_local_[size_t(layer)]);
}

const uint8_t* KvCache::v_data(int layer, BlockId block) const {
  const int g = group_of_layer(layer);
  return pools_[size_t(g)].data(block) + layout(g).v_offset_of(layer_local_[size_t(layer)]);
}

int64_t KvCache::slot(SeqId id, int group, int64_t pos) const {
  const Sequence& s = seq(id);
  if (pos < 0 || pos >= int64_t(s.tokens.size()))
    throw kiln::Error("position " + std::to_string(pos) + " is outside KV sequence " + std::to_string(id) +
                      " of " + std::to_string(s.tokens.size()) + " tokens");
  const int64_t bs = config_.block_size;
  const BlockId b = s.tables[size_t(group)][size_t(pos / bs)];
  return b == kNoBlock ? -1 : int64_t(b) * bs + pos % bs;
}

void KvCache::write(int layer, int64_t slot, const float* k, const float* v) {
  const int g = group_of_layer(layer);
  const LayerGroupConfig& group = config_.groups[size_t(g)];
  const BlockLayout& l = layout(g);
  const int64_t bs = config_.block_size;
  if (slot < 0 || slot >= int64_t(group.num_blocks) * bs)
    throw kiln::Error("KV slot " + std::to_string(slot) + " is outside layer group " + std::to_string(g));
  require_host(pools_[size_t(g)], g, "write");
  const BlockId b = BlockId(slot / bs);
  const size_t offset = size_t(slot % bs);
  uint8_t* kd = k_data(layer, b);
  uint8_t* vd = v_data(layer, b);
  std::vector<float> scratch(size_t(std::max(group.k_head_dim, group.v_head_dim)));
  for (int h = 0; h < group.n_kv_heads; ++h) {
    store_row(config_.type, l.k_rotation, k + size_t(h) * size_t(group.k_head_dim),
              kd + h * l.k_head_stride + offset * l.k_row_bytes, group.k_head_dim, scratch.data());
    store_row(config_.type, l.v_rotation, v + size_t(h) * size_t(group.v_head_dim),
              vd + h * l.v_head_stride + offset * l.v_row_bytes, group.v_head_dim, scratch.data());
  }
}

void KvCache::gather(SeqId id, int layer, int64_t begin, int64_t end, float* k_out, float* v_out) const {
  const int g = group_of_layer(layer);
  const Sequence& s = seq(id);
  const int64_t held = first_held_position(id, g);
  if (begin < held || end > int64_t(s.tokens.size()) || begin > end)
    throw kiln::Error("cannot gather positions [" + std::to_string(begin) + ", " + std::to_string(end) +
                      ") of KV sequence " + std::to_string(id) + ": layer " + std::to_string(layer) +
                      " holds [" + std::to_string(held) + ", " + std::to_string(s.tokens.size()) + ")");
  require_host(pools_[size_t(g)], g, "gather");
  const LayerGroupConfig& group = config_.groups[size_t(g)];
  const BlockLayout& l = layout(g);
  const int64_t bs = config_.block_size;
  const size_t k_row = size_t(group.n_kv_heads) * size_t(group.k_head_dim);
  const size_t v_row = size_t(group.n_kv_heads) * size_t(group.v_head_dim);
  for (int64_t pos = begin; pos < end; ++pos) {
    const BlockId b = s.tables[size_t(g)][size_t(pos / bs)];
    const size_t offset = size_t(pos % bs);
    const uint8_t* kd = k_data(layer, b);
    const uint8_t* vd = v_data(layer, b);
    float* k_dst = k_out + size_t(pos - begin) * k_row;
    float* v_dst = v_out + size_t(pos - begin) * v_row;
    for (int h = 0; h < group.n_kv_heads; ++h) {
      load_row(config_.type, l.k_rotation, kd + h * l.k_head_stride + offset * l.k_row_bytes,
               k_dst + size_t(h) * size_t(group.k_head_dim), group.k_head_dim);
      load_row(config_.type, l.v_rotation, vd + h * l.v_head_stride + offset * l.v_row_bytes,
               v_dst + size_t(h) * size_t(group.v_head_dim), group.v_head_dim);
    }
  }
}

}  // namespace kiln::kv
