#include "kv/block_hash_table.h"

#include <bit>

namespace kiln::kv {

BlockHashTable::BlockHashTable(size_t max_entries) : max_entries_(max_entries) {
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, max_entries * 2));
  slots_.resize(capacity);
  mask_ = capacity - 1;
}

BlockId BlockHashTable::find(const BlockHash& hash) const {
  for (size_t i = home(hash);; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.block == kNoBlock) return kNoBlock;
    if (s.hash == hash) return s.block;
  }
}

bool BlockHashTable::insert(const BlockHash& hash, BlockId block) {
  if (size_ >= max_entries_)
    throw kiln::Error("KV block hash table is full (" + std::to_string(max_entries_) + " entries)");
  size_t i = home(hash);
  for (;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.block == kNoBlock) break;
    if (s.hash == hash) return false;
  }
  slots_[i] = Slot{hash, block};
  ++size_;
  return true;
}

bool BlockHashTable::erase(const BlockHash& hash, BlockId block) {
  size_t i = home(hash);
  for (;; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.block == kNoBlock) return false;
    if (s.hash == hash) break;
  }
  if (slots_[i].block != block) return false;
  // Backward-shift: move later entries of the probe run into the hole when
  // their home slot does not lie (cyclically) between the hole and them.
  size_t hole = i;
  for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
    Slot& s = slots_[j];
    if (s.block == kNoBlock) break;
    const size_t h = home(s.hash);
    const bool stays = ((j - h) & mask_) < ((j - hole) & mask_);
    if (!stays) {
      slots_[hole] = s;
      hole = j;
    }
  }
  slots_[hole] = Slot{};
  --size_;
  return true;
}

}  // namespace kiln::kv
