#pragma once
// The disk tier's in-memory index: which entries exist, the bytes they take
// and the order they are evicted in, within a byte budget. Not thread-safe
// (DiskTier guards it with its mutex). Knows nothing about files.
//
// Eviction order. Each entry has a priority
//     last use tick + 4 log2(1 + hits) + 2 log2(1 + prefix length in blocks)
// where a tick is one prefix lookup (attach) of the cache, hits count the
// lookups that reused the entry and the prefix length is the longest prefix
// it ended or was part of when reused (at least depth + 1), capped at its
// parent's priority. Lowest priority goes first; among equal priorities the
// deeper block (the end of a chain) goes first.
//
// This avoids the known traps:
//  - a prefix is useless without its beginning, so an ancestor never ranks
//    below its descendants: a touch always covers a chain from its first
//    block (ancestors get at least what descendants get), a new entry's
//    priority is capped at its parent's, and ties evict the deeper block;
//    nested prefixes of one conversation therefore shorten from the end,
//    never break in the middle;
//  - admit() evicts only entries ranked strictly below the new one and never
//    the new entry itself; when the room can only come from better entries,
//    the new one is refused (counted) instead;
//  - the budget counts every entry's disk bytes (header included, rounded to
//    4 KiB) and an entry is admitted only once room exists, so the total
//    never exceeds it, even while the file is being written.
#include <cstdint>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "kv/tier_disk_format.h"

namespace kiln::kv::tier {

class DiskIndex {
 public:
  explicit DiskIndex(uint64_t budget_bytes) : budget_(budget_bytes) {}

  uint64_t budget() const { return budget_; }
  uint64_t bytes() const { return bytes_; }
  size_t size() const { return entries_.size(); }
  bool contains(const EntryKey& key) const { return entries_.count(key) != 0; }

  // Records a new entry of disk_bytes, evicting lower-ranked entries (their
  // keys appended to evicted) to stay within the budget. Returns false, and
  // changes nothing, when that is impossible.
  // needs_parent: the block is useless without its parent on disk (a
  // full-attention group's lookup stops at the first missing block), so an
  // orphan is refused; a sliding-window group's block is not.
  bool admit(const EntryKey& key, const BlockHash& parent, uint32_t depth, uint64_t disk_bytes, double tick,
             bool needs_parent, std::vector<EntryKey>& evicted);
  // A lookup reused key as part of a chain of chain_blocks blocks at tick.
  void touch(const EntryKey& key, double tick, uint32_t chain_blocks, bool hit);
  void erase(const EntryKey& key);

  // Startup: adds an entry found on disk with the recency of its file
  // (rank of its mtime), without budget checks; finish_load() then lifts
  // every ancestor to its descendants' recency and evicts down to the budget.
  void load(const EntryKey& key, const BlockHash& parent, uint32_t depth, uint64_t disk_bytes, double tick);
  void finish_load(std::vector<EntryKey>& evicted);

  // Entries from the first to be evicted to the last (tests).
  std::vector<EntryKey> eviction_order() const;

 private:
  struct Entry {
    BlockHash parent;
    uint32_t depth = 0;
    uint64_t disk_bytes = 0;
    double tick = 0;
    uint32_t hits = 0;
    uint32_t chain_blocks = 0;
    double priority = 0;
    uint64_t serial = 0;  // admission order: older first among exact ties
  };
  // (priority, -depth, serial): ascending is eviction order.
  using Rank = std::tuple<double, int64_t, uint64_t>;
  static Rank rank_of(const Entry& e) { return {e.priority, -int64_t(e.depth), e.serial}; }
  static double priority_of(const Entry& e);
  void reposition(const EntryKey& key, Entry& e, double new_priority);

  uint64_t budget_;
  uint64_t bytes_ = 0;
  uint64_t next_serial_ = 0;
  std::unordered_map<EntryKey, Entry, EntryKeyHasher> entries_;
  std::set<std::pair<Rank, EntryKey>, bool (*)(const std::pair<Rank, EntryKey>&, const std::pair<Rank, EntryKey>&)>
      order_{[](const std::pair<Rank, EntryKey>& a, const std::pair<Rank, EntryKey>& b) { return a.first < b.first; }};
};

}  // namespace kiln::kv::tier
