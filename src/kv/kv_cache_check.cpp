// Full consistency check of the cache's bookkeeping, for tests and debug
// builds of the engine. Recomputes everything from the sequences' block
// tables and compares with what the pools believe.
#include <algorithm>
#include <bit>

#include "kv/kv_cache.h"
#include "kv/prefix_hash.h"

namespace kiln::kv {

namespace {
[[noreturn]] void fail(const std::string& what) { throw kiln::Error("KV cache invariant broken: " + what); }
std::string s(int64_t v) { return std::to_string(v); }
}  // namespace

void KvCache::check_invariants() const {
  const int64_t bs = config_.block_size;

  // Sequence membership: the bitset, the count and the free id stack agree.
  int64_t live = 0;
  for (uint64_t word : live_) live += std::popcount(word);
  if (live != live_count_) fail("live bitset has " + s(live) + " sequences, count says " + s(live_count_));
  if (live + int64_t(free_ids_.size()) != config_.max_sequences) fail("sequence ids leaked");
  for (SeqId id : free_ids_)
    if (contains(id)) fail("sequence " + s(id) + " is both live and free");

  std::vector<std::vector<uint32_t>> refs(pools_.size());
  for (size_t g = 0; g < pools_.size(); ++g) refs[g].assign(size_t(pools_[g].num_blocks()), 0);

  for (SeqId id = 0; id < SeqId(config_.max_sequences); ++id) {
    if (!contains(id)) continue;
    const Sequence& sq = seqs_[id];
    const int64_t n = int64_t(sq.tokens.size());
    const std::string name = "sequence " + s(id) + ": ";
    if (sq.n_computed < 0 || sq.n_computed > n) fail(name + "computed count out of range");
    if (int64_t(sq.hashes.size()) != sq.n_computed / bs) fail(name + "wrong number of block hashes");
    for (size_t i = 0; i < sq.hashes.size(); ++i) {
      const BlockHash& parent = i == 0 ? model_root_ : sq.hashes[i - 1];
      if (hash_block(parent, model_root_, std::span(sq.tokens).subspan(i * size_t(bs), size_t(bs))) != sq.hashes[i])
        fail(name + "hash of block " + s(int64_t(i)) + " does not match its tokens");
    }
    for (size_t g = 0; g < pools_.size(); ++g) {
      const std::vector<BlockId>& table = sq.tables[g];
      const BlockPool& pool = pools_[g];
      const std::string gname = name + "group " + s(int64_t(g)) + ": ";
      if (int64_t(table.size()) != (n + bs - 1) / bs) fail(gname + "block table size does not match length");
      const int64_t first = sq.first_held[g];
      if (config_.groups[g].window == 0 && first != 0) fail(gname + "full-attention group released blocks");
      // Never released a block a future query can see.
      if (first > window_first_block(int(g), sq.n_computed) && first < int64_t(table.size()))
        fail(gname + "released a block still inside the window");
      for (int64_t i = 0; i < int64_t(table.size()); ++i) {
        const BlockId b = table[size_t(i)];
        if ((i < first) != (b == kNoBlock)) fail(gname + "held/released blocks out of order at " + s(i));
        if (b == kNoBlock) continue;
        if (b >= BlockId(pool.num_blocks())) fail(gname + "block id out of range");
        ++refs[g][b];
        // A registered block in a computed full slot must carry that slot's hash.
        if (pool.registered(b) && i < int64_t(sq.hashes.size()) && pool.hash_of(b) != sq.hashes[size_t(i)])
          fail(gname + "block " + s(b) + " registered under another prefix's hash");
      }
    }
  }

  for (size_t g = 0; g < pools_.size(); ++g) {
    const BlockPool& pool = pools_[g];
    const std::string gname = "group " + s(int64_t(g)) + ": ";
    int64_t used = 0, cached = 0, free = 0, registered = 0;
    for (BlockId b = 0; b < BlockId(pool.num_blocks()); ++b) {
      if (pool.refcount(b) != refs[g][b])
        fail(gname + "block " + s(b) + " refcount " + s(pool.refcount(b)) + " but " + s(refs[g][b]) +
             " references");
      if (pool.registered(b)) {
        ++registered;
        if (pool.find(pool.hash_of(b)) != b) fail(gname + "registered block " + s(b) + " not findable");
      }
      if (pool.refcount(b) > 0) {
        ++used;
        if (pool.on_free_list(b)) fail(gname + "used block " + s(b) + " on the free list");
      } else if (pool.registered(b)) {
        ++cached;
        if (pool.on_free_list(b)) fail(gname + "cached block " + s(b) + " on the free list");
      } else {
        ++free;
        if (!pool.on_free_list(b)) fail(gname + "block " + s(b) + " leaked: unused, uncached, not free");
      }
    }
    int64_t in_lru = 0;
    pool.for_each_cached([&](BlockId b) {
      ++in_lru;
      if (pool.refcount(b) != 0 || !pool.registered(b)) fail(gname + "LRU holds block " + s(b) + " that is not cached");
    });
    if (in_lru != cached || cached != pool.cached_count()) fail(gname + "LRU size disagrees with cached blocks");
    if (free != pool.free_count()) fail(gname + "free list size disagrees with free blocks");
    if (used + cached + free != pool.num_blocks()) fail(gname + "free + used + cached != total");
    if (int64_t(pool.table_size()) != registered) fail(gname + "hash table size disagrees with registered blocks");
  }
}

}  // namespace kiln::kv
