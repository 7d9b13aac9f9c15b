// Prefix reuse: find the longest block-aligned prefix of a prompt whose K/V
// every layer group can supply from cached blocks, and attach it to a new
// sequence by reference. With a disk tier the chain continues on disk where
// RAM ends (kv_cache_tier.cpp restores those blocks).
//
// A full-attention group needs every block of the prefix. A sliding-window
// group needs only the blocks a query at the prefix's end can still see
// (positions >= end - window + 1); that is why such a group hands the blocks
// that leave its window to the LRU set instead of the free list: a later
// request with the same prefix finds them there.
#include <algorithm>

#include "kv/kv_cache.h"
#include "kv/prefix_hash.h"
#include "kv/tier_link.h"

namespace kiln::kv {

bool KvCache::window_blocks_cached(int group, int64_t begin_block, int64_t end_block) const {
  for (int64_t i = begin_block; i < end_block; ++i)
    if (pools_[size_t(group)].find(prefix_scratch_[size_t(i)]) == kNoBlock) return false;
  return true;
}

bool KvCache::block_available(int group, int64_t block, bool use_disk) const {
  const BlockHash& h = prefix_scratch_[size_t(block)];
  if (pools_[size_t(group)].find(h) != kNoBlock) return true;
  return use_disk && tiers_ && tiers_->on_disk(group, h);
}

int64_t KvCache::match_prefix(std::span<const Token> prompt, int64_t max_tokens) const {
  return match_prefix_tiers(prompt, max_tokens, tiers_ && tiers_->pools_on_host());
}

int64_t KvCache::match_prefix_tiers(std::span<const Token> prompt, int64_t max_tokens, bool use_disk) const {
  const int64_t bs = config_.block_size;
  const int64_t limit = std::min<int64_t>(int64_t(prompt.size()), std::max<int64_t>(max_tokens, 0)) / bs;
  bool has_full_group = false;
  for (const LayerGroupConfig& g : config_.groups) has_full_group |= g.window == 0;

  // Full-attention groups: the prefix ends at the first block one of them
  // lacks (in RAM, or on disk too with use_disk). Hashes are computed only
  // up to there.
  prefix_scratch_.clear();
  int64_t m = 0;
  for (int64_t i = 0; i < limit; ++i) {
    const BlockHash& parent = i == 0 ? model_root_ : prefix_scratch_.back();
    prefix_scratch_.push_back(hash_block(parent, model_root_, prompt.subspan(size_t(i * bs), size_t(bs))));
    bool all_have = true;
    if (has_full_group)
      for (int g = 0; g < num_groups() && all_have; ++g)
        all_have = config_.groups[size_t(g)].window != 0 || block_available(g, i, use_disk);
    if (!all_have) break;
    m = i + 1;
  }

  // Window groups: shrink m until each holds the blocks visible from m*bs.
  // A missing block j rules out every m > j whose window covers it, so the
  // next candidate is m = j.
  for (bool changed = true; changed && m > 0;) {
    changed = false;
    for (int g = 0; g < num_groups() && m > 0; ++g) {
      if (config_.groups[size_t(g)].window == 0) continue;
      const int64_t begin = window_first_block(g, m * bs);
      for (int64_t j = m; j-- > begin;) {
        if (!block_available(g, j, use_disk)) {
          m = j;
          changed = true;
          break;
        }
      }
    }
  }
  return m;
}

int64_t KvCache::cached_prefix_length(std::span<const Token> prompt, int64_t max_tokens) const {
  return match_prefix(prompt, max_tokens) * config_.block_size;
}

int64_t KvCache::attach_prefix(SeqId id, std::span<const Token> prompt, int64_t max_tokens) {
  Sequence& s = seq(id);
  if (!s.tokens.empty())
    throw kiln::Error("attach_prefix needs an empty KV sequence; sequence " + std::to_string(id) + " has " +
                      std::to_string(s.tokens.size()) + " tokens");
  if (tiers_ && tiers_->pools_on_host()) return attach_prefix_tiers(s, prompt, max_tokens);
  const int64_t m = match_prefix_tiers(prompt, max_tokens, false);
  attach_blocks(s, prompt, m, nullptr);
  const int64_t limit = std::min<int64_t>(int64_t(prompt.size()), std::max<int64_t>(max_tokens, 0)) / block_size();
  ram_hits_ += uint64_t(m) * uint64_t(num_groups());
  ram_misses_ += uint64_t(limit - m) * uint64_t(num_groups());
  return m * config_.block_size;
}

void KvCache::attach_blocks(Sequence& s, std::span<const Token> prompt, int64_t m,
                            std::vector<std::pair<int, int64_t>>* missing) {
  const int64_t n = m * config_.block_size;
  s.tokens.assign(prompt.begin(), prompt.begin() + n);
  s.hashes.assign(prefix_scratch_.begin(), prefix_scratch_.begin() + m);
  s.n_computed = n;
  for (size_t g = 0; g < pools_.size(); ++g) {
    const int64_t first = window_first_block(int(g), n);
    std::vector<BlockId>& table = s.tables[g];
    table.assign(size_t(m), kNoBlock);
    for (int64_t i = first; i < m; ++i) {
      const BlockId b = pools_[g].find(s.hashes[size_t(i)]);
      if (b == kNoBlock) {
        if (!missing) throw kiln::Error("KV prefix block vanished while being attached");
        missing->push_back({int(g), i});
        continue;
      }
      pools_[g].retain(b);
      table[size_t(i)] = b;
    }
    s.first_held[g] = first;
  }
}

void KvCache::detach_blocks(Sequence& s) {
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
}

}  // namespace kiln::kv
