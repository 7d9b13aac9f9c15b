// Sequence lifecycle of the KV cache: create, append, mark computed, fork,
// truncate, free. Prefix lookup is in kv_cache_prefix.cpp, storage access in
// kv_cache_storage.cpp, invariant checks in kv_cache_check.cpp.
#include "kv/kv_cache.h"

#include <algorithm>

#include "kv/prefix_hash.h"

namespace kiln::kv {

namespace {
int64_t blocks_for(int64_t tokens, int64_t bs) { return (tokens + bs - 1) / bs; }
}  // namespace

KvCache::KvCache(CacheConfig config) : config_(std::move(config)) {
  validate(config_);
  model_root_ = model_root_hash(config_.model_identity);
  int max_layer = 0;
  for (const LayerGroupConfig& g : config_.groups)
    for (int layer : g.layers) max_layer = std::max(max_layer, layer);
  layer_group_.assign(size_t(max_layer) + 1, -1);
  layer_local_.assign(size_t(max_layer) + 1, -1);
  pools_.reserve(config_.groups.size());
  for (size_t g = 0; g < config_.groups.size(); ++g) {
    const LayerGroupConfig& group = config_.groups[g];
    for (size_t i = 0; i < group.layers.size(); ++i) {
      layer_group_[size_t(group.layers[i])] = int(g);
      layer_local_[size_t(group.layers[i])] = int(i);
    }
    pools_.emplace_back(make_layout(config_, group), group.num_blocks, int(g));
  }
  const size_t n = size_t(config_.max_sequences);
  seqs_.resize(n);
  for (Sequence& s : seqs_) {
    s.tables.resize(pools_.size());
    s.first_held.assign(pools_.size(), 0);
  }
  live_.assign((n + 63) / 64, 0);
  free_ids_.reserve(n);
  for (size_t i = n; i-- > 0;) free_ids_.push_back(SeqId(i));  // hand out low ids first
}

void KvCache::check_layer(int layer) const {
  if (layer < 0 || size_t(layer) >= layer_group_.size() || layer_group_[size_t(layer)] < 0)
    throw kiln::Error("layer " + std::to_string(layer) + " is in no KV cache layer group");
}

int KvCache::group_of_layer(int layer) const {
  check_layer(layer);
  return layer_group_[size_t(layer)];
}

int KvCache::local_layer(int layer) const {
  check_layer(layer);
  return layer_local_[size_t(layer)];
}

KvCache::Sequence& KvCache::seq(SeqId id) {
  if (!contains(id)) throw kiln::Error("KV cache has no sequence " + std::to_string(id));
  return seqs_[id];
}

const KvCache::Sequence& KvCache::seq(SeqId id) const {
  if (!contains(id)) throw kiln::Error("KV cache has no sequence " + std::to_string(id));
  return seqs_[id];
}

SeqId KvCache::create_sequence() {
  if (free_ids_.empty())
    throw kiln::Error("KV cache already holds its maximum of " + std::to_string(config_.max_sequences) +
                      " sequences");
  const SeqId id = free_ids_.back();
  free_ids_.pop_back();
  live_[id >> 6] |= uint64_t(1) << (id & 63);
  ++live_count_;
  Sequence& s = seqs_[id];  // cleared on free; vectors keep their capacity
  s.n_computed = 0;
  return id;
}

void KvCache::reserve(SeqId id, int64_t max_tokens) {
  Sequence& s = seq(id);
  const int64_t blocks = blocks_for(std::max<int64_t>(max_tokens, 0), config_.block_size);
  s.tokens.reserve(size_t(std::max<int64_t>(max_tokens, 0)));
  s.hashes.reserve(size_t(blocks));
  for (std::vector<BlockId>& table : s.tables) table.reserve(size_t(blocks));
}

int64_t KvCache::first_held_position(SeqId id, int group) const {
  const Sequence& s = seq(id);
  return std::min<int64_t>(s.first_held[size_t(group)] * config_.block_size, int64_t(s.tokens.size()));
}

int64_t KvCache::window_first_block(int group, int64_t first_query_pos) const {
  const int w = config_.groups[size_t(group)].window;
  if (w == 0) return 0;
  const int64_t first_key = first_query_pos - w + 1;
  return first_key <= 0 ? 0 : first_key / config_.block_size;
}

void KvCache::release_out_of_window(Sequence& s) {
  for (size_t g = 0; g < pools_.size(); ++g) {
    if (config_.groups[g].window == 0) continue;
    std::vector<BlockId>& table = s.tables[g];
    const int64_t target = std::min<int64_t>(window_first_block(int(g), s.n_computed), int64_t(table.size()));
    // Oldest first: the LRU set then evicts the oldest positions first.
    for (int64_t i = s.first_held[g]; i < target; ++i) {
      if (table[size_t(i)] != kNoBlock) pools_[g].release(table[size_t(i)]);
      table[size_t(i)] = kNoBlock;
    }
    s.first_held[g] = std::max(s.first_held[g], target);
  }
}

int64_t KvCache::blocks_needed(SeqId id, int64_t n_new, int group) const {
  const Sequence& s = seq(id);
  if (n_new <= 0) return 0;
  const int64_t bs = config_.block_size;
  const int64_t n = int64_t(s.tokens.size());
  int64_t need = blocks_for(n + n_new, bs) - blocks_for(n, bs);
  if (n % bs != 0 && pools_[size_t(group)].refcount(s.tables[size_t(group)].back()) > 1) ++need;  // copy-on-write
  return need;
}

bool KvCache::can_append(SeqId id, int64_t n_new) const {
  for (int g = 0; g < num_groups(); ++g)
    if (blocks_needed(id, n_new, g) > pools_[size_t(g)].available()) return false;
  return true;
}

BlockId KvCache::ensure_writable_tail(Sequence& s, int group) {
  BlockPool& pool = pools_[size_t(group)];
  BlockId& tail = s.tables[size_t(group)].back();
  if (pool.refcount(tail) > 1) {
    // Shared with another sequence: this one gets a private copy.
    const BlockId copy = pool.allocate();
    pool.copy_block(copy, tail);
    pool.release(tail);
    tail = copy;
  } else {
    // Ours alone but maybe registered under the hash of contents that are
    // about to change: it no longer names that prefix.
    pool.unregister(tail);
  }
  return tail;
}

void KvCache::append(SeqId id, std::span<const Token> tokens) {
  Sequence& s = seq(id);
  if (tokens.empty()) return;
  const int64_t n_new = int64_t(tokens.size());
  // Check every group before touching any, so a failure changes nothing.
  for (int g = 0; g < num_groups(); ++g) {
    const int64_t need = blocks_needed(id, n_new, g);
    const int64_t available = pools_[size_t(g)].available();
    if (need > available) throw OutOfBlocks(g, need, available);
  }
  const int64_t bs = config_.block_size;
  const int64_t n = int64_t(s.tokens.size());
  const int64_t new_blocks = blocks_for(n + n_new, bs) - blocks_for(n, bs);
  for (int g = 0; g < num_groups(); ++g) {
    if (n % bs != 0) ensure_writable_tail(s, g);
    std::vector<BlockId>& table = s.tables[size_t(g)];
    for (int64_t i = 0; i < new_blocks; ++i) table.push_back(pools_[size_t(g)].allocate());
  }
  s.tokens.insert(s.tokens.end(), tokens.begin(), tokens.end());
}

void KvCache::mark_computed(SeqId id) {
  Sequence& s = seq(id);
  const int64_t bs = config_.block_size;
  s.n_computed = int64_t(s.tokens.size());
  const int64_t full = s.n_computed / bs;
  for (int64_t i = int64_t(s.hashes.size()); i < full; ++i) {
    const BlockHash& parent = i == 0 ? model_root_ : s.hashes[size_t(i - 1)];
    const BlockHash h = hash_block(parent, model_root_, std::span(s.tokens).subspan(size_t(i * bs), size_t(bs)));
    s.hashes.push_back(h);
    for (size_t g = 0; g < pools_.size(); ++g) {
      const BlockId b = s.tables[g][size_t(i)];
      if (b != kNoBlock) pools_[g].register_hash(b, h);
    }
  }
  release_out_of_window(s);
}

SeqId KvCache::fork(SeqId src_id) {
  const Sequence& src = seq(src_id);
  if (src.n_computed != int64_t(src.tokens.size()))
    throw kiln::Error("cannot fork KV sequence " + std::to_string(src_id) +
                      " while some of its tokens are not computed yet");
  const SeqId id = create_sequence();
  Sequence& dst = seqs_[id];
  dst.tokens = src.tokens;
  dst.hashes = src.hashes;
  dst.n_computed = src.n_computed;
  dst.first_held = src.first_held;
  for (size_t g = 0; g < pools_.size(); ++g) {
    dst.tables[g] = src.tables[g];
    for (BlockId b : dst.tables[g])
      if (b != kNoBlock) pools_[g].retain(b);
  }
  return id;
}

bool KvCache::can_truncate(SeqId id, int64_t n) const {
  const Sequence& s = seq(id);
  if (n < 0 || n > int64_t(s.tokens.size())) return false;
  const int64_t new_count = blocks_for(n, config_.block_size);
  const int64_t new_computed = std::min(s.n_computed, n);
  for (size_t g = 0; g < pools_.size(); ++g) {
    const int64_t held = std::min(s.first_held[g], new_count);
    const int64_t need = std::min(window_first_block(int(g), new_computed), new_count);
    for (int64_t i = need; i < held; ++i)
      if (pools_[g].find(s.hashes[size_t(i)]) == kNoBlock) return false;
  }
  return true;
}

void KvCache::truncate(SeqId id, int64_t n) {
  Sequence& s = seq(id);
  const int64_t len = int64_t(s.tokens.size());
  if (n < 0 || n > len)
    throw kiln::Error("cannot truncate KV sequence " + std::to_string(id) + " of " + std::to_string(len) +
                      " tokens to " + std::to_string(n));
  if (n == len) return;
  if (!can_truncate(id, n))
    throw kiln::Error("cannot truncate KV sequence " + std::to_string(id) + " to " + std::to_string(n) +
                      " tokens: sliding-window blocks it needs again were evicted; recompute it");
  const int64_t new_count = blocks_for(n, config_.block_size);
  const int64_t new_computed = std::min(s.n_computed, n);
  for (size_t g = 0; g < pools_.size(); ++g) {
    std::vector<BlockId>& table = s.tables[g];
    for (int64_t i = int64_t(table.size()); i-- > new_count;)
      if (table[size_t(i)] != kNoBlock) pools_[g].release(table[size_t(i)]);
    table.resize(size_t(new_count));
    // A window group takes back, from the prefix cache, blocks it released
    // that queries from the new end can see again.
    const int64_t held = std::min(s.first_held[g], new_count);
    const int64_t need = std::min(window_first_block(int(g), new_computed), new_count);
    for (int64_t i = need; i < held; ++i) {
      const BlockId b = pools_[g].find(s.hashes[size_t(i)]);
      pools_[g].retain(b);
      table[size_t(i)] = b;
    }
    s.first_held[g] = std::min(held, need);
  }
  s.hashes.resize(std::min(s.hashes.size(), size_t(n / config_.block_size)));
  s.tokens.resize(size_t(n));
  s.n_computed = new_computed;
}

void KvCache::free_sequence(SeqId id) {
  Sequence& s = seq(id);
  for (size_t g = 0; g < pools_.size(); ++g) {
    std::vector<BlockId>& table = s.tables[g];
    for (size_t i = table.size(); i-- > 0;)
      if (table[i] != kNoBlock) pools_[g].release(table[i]);
    table.clear();
    s.first_held[g] = 0;
  }
  s.tokens.clear();
  s.hashes.clear();
  s.n_computed = 0;
  live_[id >> 6] &= ~(uint64_t(1) << (id & 63));
  --live_count_;
  free_ids_.push_back(id);
}

}  // namespace kiln::kv
