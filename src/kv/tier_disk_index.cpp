#include "kv/tier_disk_index.h"

#include <algorithm>
#include <cmath>

namespace kiln::kv::tier {

double DiskIndex::priority_of(const Entry& e) {
  // A block ends a prefix of depth + 1 blocks at least; a lookup may have
  // used it inside a longer one.
  const double length = std::max<double>(e.chain_blocks, double(e.depth) + 1);
  return e.tick + 4.0 * std::log2(1.0 + e.hits) + 2.0 * std::log2(1.0 + length);
}

void DiskIndex::reposition(const EntryKey& key, Entry& e, double new_priority) {
  order_.erase({rank_of(e), key});
  e.priority = new_priority;
  order_.insert({rank_of(e), key});
}

bool DiskIndex::admit(const EntryKey& key, const BlockHash& parent, uint32_t depth, uint64_t disk_bytes, double tick,
                      bool needs_parent, std::vector<EntryKey>& evicted) {
  if (contains(key) || disk_bytes > budget_) return false;
  Entry e;
  e.parent = parent;
  e.depth = depth;
  e.disk_bytes = disk_bytes;
  e.tick = tick;
  e.priority = priority_of(e);
  if (depth > 0) {
    const auto p = entries_.find(EntryKey{parent, key.group});
    if (p != entries_.end())
      e.priority = std::min(e.priority, p->second.priority);
    else if (needs_parent)
      return false;
  }
  e.serial = next_serial_;
  const Rank new_rank = rank_of(e);

  // Victims: the lowest-ranked entries, all strictly below the new one.
  const uint64_t need = bytes_ + disk_bytes > budget_ ? bytes_ + disk_bytes - budget_ : 0;
  uint64_t freed = 0;
  auto it = order_.begin();
  for (; freed < need && it != order_.end() && it->first < new_rank; ++it) freed += entries_.at(it->second).disk_bytes;
  if (freed < need) return false;
  for (auto v = order_.begin(); v != it;) {
    evicted.push_back(v->second);
    bytes_ -= entries_.at(v->second).disk_bytes;
    entries_.erase(v->second);
    v = order_.erase(v);
  }
  ++next_serial_;
  bytes_ += disk_bytes;
  order_.insert({new_rank, key});
  entries_.emplace(key, e);
  return true;
}

void DiskIndex::touch(const EntryKey& key, double tick, uint32_t chain_blocks, bool hit) {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  order_.erase({rank_of(e), key});
  e.tick = std::max(e.tick, tick);
  e.chain_blocks = std::max(e.chain_blocks, chain_blocks);
  if (hit) ++e.hits;
  e.priority = priority_of(e);
  order_.insert({rank_of(e), key});
}

void DiskIndex::erase(const EntryKey& key) {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return;
  order_.erase({rank_of(it->second), key});
  bytes_ -= it->second.disk_bytes;
  entries_.erase(it);
}

void DiskIndex::load(const EntryKey& key, const BlockHash& parent, uint32_t depth, uint64_t disk_bytes, double tick) {
  if (contains(key)) return;
  Entry e;
  e.parent = parent;
  e.depth = depth;
  e.disk_bytes = disk_bytes;
  e.tick = tick;
  e.priority = priority_of(e);
  e.serial = next_serial_++;
  bytes_ += disk_bytes;
  entries_.emplace(key, e);  // order_ is built by finish_load
}

void DiskIndex::finish_load(std::vector<EntryKey>& evicted) {
  // Deepest first, so a recency travels up a whole chain in one pass.
  std::vector<std::pair<uint32_t, EntryKey>> by_depth;
  by_depth.reserve(entries_.size());
  for (const auto& [key, e] : entries_) by_depth.push_back({e.depth, key});
  std::sort(by_depth.begin(), by_depth.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [depth, key] : by_depth) {
    const Entry& child = entries_.at(key);
    if (depth == 0) continue;
    const auto p = entries_.find(EntryKey{child.parent, key.group});
    if (p != entries_.end() && p->second.tick < child.tick) p->second.tick = child.tick;
  }
  // Then priorities from the start of each chain down, each capped at its
  // parent's, as admit() does.
  for (auto it = by_depth.rbegin(); it != by_depth.rend(); ++it) {
    Entry& e = entries_.at(it->second);
    e.priority = priority_of(e);
    if (e.depth == 0) continue;
    const auto p = entries_.find(EntryKey{e.parent, it->second.group});
    if (p != entries_.end()) e.priority = std::min(e.priority, p->second.priority);
  }
  order_.clear();
  for (const auto& [key, e] : entries_) order_.insert({rank_of(e), key});
  while (bytes_ > budget_ && !order_.empty()) {
    const EntryKey victim = order_.begin()->second;
    evicted.push_back(victim);
    erase(victim);
  }
}

std::vector<EntryKey> DiskIndex::eviction_order() const {
  std::vector<EntryKey> out;
  out.reserve(order_.size());
  for (const auto& [rank, key] : order_) out.push_back(key);
  return out;
}

}  // namespace kiln::kv::tier
