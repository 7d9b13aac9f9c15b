#pragma once
// Fixed-capacity map from block hash to the block that holds that prefix.
// Open addressing with linear probing and backward-shift deletion, sized once
// at construction (at least twice the pool's block count), so inserting and
// erasing never allocate and probe sequences stay short. The keys are already
// uniform hashes, so their low bits pick the home slot directly.
#include <cstddef>
#include <vector>

#include "kv/kv_types.h"

namespace kiln::kv {

class BlockHashTable {
 public:
  // Room for max_entries keys at a load factor of at most 1/2.
  explicit BlockHashTable(size_t max_entries);

  // The block registered under hash, or kNoBlock.
  BlockId find(const BlockHash& hash) const;
  // Registers hash -> block; returns false (and changes nothing) if hash is
  // already present. Throws kiln::Error if the table is full, which the pool
  // prevents by never registering more keys than it has blocks.
  bool insert(const BlockHash& hash, BlockId block);
  // Removes hash if it maps to block; returns whether it did.
  bool erase(const BlockHash& hash, BlockId block);

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }

 private:
  struct Slot {
    BlockHash hash;
    BlockId block = kNoBlock;  // kNoBlock marks an empty slot
  };
  size_t home(const BlockHash& hash) const { return size_t(hash.lo) & mask_; }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
  size_t max_entries_ = 0;
};

}  // namespace kiln::kv
