// Prefix reuse: find the longest block-aligned prefix of a prompt whose K/V
// every layer group can supply from cached blocks, and attach it to a new
// sequence by reference.
//
// A full-attention group needs every block of the prefix. A sliding-window
// group needs only the blocks a query at the prefix's end can still see
// (positions >= end - window + 1); that is why such a group hands the blocks
// that leave its window to the LRU set instead of the free list: a later
// request with the same prefix finds them there.
#include <algorithm>

#include "kv/kv_cache.h"
#include "kv/prefix_hash.h"

namespace kiln::kv {

bool KvCache::window_blocks_cached(int group, int64_t begin_block, int64_t end_block) const {
  for (int64_t i = begin_block; i < end_block; ++i)
    if (pools_[size_t(group)].find(prefix_scratch_[size_t(i)]) == kNoBlock) return false;
  return true;
}

int64_t KvCache::match_prefix(std::span<const Token> prompt, int64_t max_tokens) const {
  const int64_t bs = config_.block_size;
  const int64_t limit = std::min<int64_t>(int64_t(prompt.size()), std::max<int64_t>(max_tokens, 0)) / bs;
  bool has_full_group = false;
  for (const LayerGroupConfig& g : config_.groups) has_full_group |= g.window == 0;

  // Full-attention groups: the prefix ends at the first block one of them
  // lacks. Hashes are computed only up to there.
  prefix_scratch_.clear();
  int64_t m = 0;
  for (int64_t i = 0; i < limit; ++i) {
    const BlockHash& parent = i == 0 ? model_root_ : prefix_scratch_.back();
    prefix_scratch_.push_back(hash_block(parent, model_root_, prompt.subspan(size_t(i * bs), size_t(bs))));
    bool all_have = true;
    if (has_full_group)
      for (size_t g = 0; g < pools_.size() && all_have; ++g)
        all_have = config_.groups[g].window != 0 || pools_[g].find(prefix_scratch_.back()) != kNoBlock;
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
        if (pools_[size_t(g)].find(prefix_scratch_[size_t(j)]) == kNoBlock) {
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
  const int64_t m = match_prefix(prompt, max_tokens);
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
      pools_[g].retain(b);
      table[size_t(i)] = b;
    }
    s.first_held[g] = first;
  }
  return n;
}

}  // namespace kiln::kv
