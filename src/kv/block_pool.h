#pragma once
// The blocks of one layer group: their K/V storage, reference counts, the free
// list, the prefix-cache table (block hash -> block) and the LRU set of cached
// blocks that no sequence uses any more.
//
// Every block is in exactly one of three states:
//   used    refcount > 0 (held by one or more sequences; may be registered)
//   cached  refcount 0, registered under its hash, in the LRU list: still
//           findable by prefix lookup, reclaimed when the free list is empty
//   free    refcount 0, not registered, on the free list
// so free + used + cached == total always. Every operation is O(1) and none
// allocates after construction.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kv/block_hash_table.h"
#include "kv/block_storage.h"
#include "kv/kv_config.h"

namespace kiln::kv {

// Told when a block enters the prefix-cache table and when allocate() evicts
// a cached block (the KV tiers write new blocks through to disk). Called on
// the cache's thread, inside register_hash / allocate.
class BlockObserver {
 public:
  virtual ~BlockObserver() = default;
  virtual void on_registered(int group, BlockId b, const BlockHash& hash) = 0;
  virtual void on_evicted(int group, BlockId b, const BlockHash& hash) = 0;
};

class BlockPool {
 public:
  // group_index only labels OutOfBlocks errors.
  BlockPool(const BlockLayout& layout, int num_blocks, int group_index);

  int num_blocks() const { return int(refcount_.size()); }
  int free_count() const { return int(free_.size()); }
  int cached_count() const { return cached_; }
  int used_count() const { return num_blocks() - free_count() - cached_count(); }
  // Blocks an allocation can get: free ones, then evicted cached ones.
  int available() const { return free_count() + cached_count(); }

  // A block with refcount 1, taken from the free list or, when that is empty,
  // by evicting the least recently released cached block (its hash is
  // dropped). Throws OutOfBlocks when neither exists.
  BlockId allocate();
  // One more reference. A cached block becomes used (leaves the LRU list).
  void retain(BlockId b);
  // One reference less. At zero a registered block becomes cached (newest in
  // the LRU list), any other block goes back to the free list.
  void release(BlockId b);
  uint32_t refcount(BlockId b) const { return refcount_[b]; }

  // Prefix cache. find() returns kNoBlock when hash is not cached.
  BlockId find(const BlockHash& hash) const { return table_.find(hash); }
  // Registers a used block under hash. Returns false, leaving the block
  // unregistered, when another block already holds that hash (two sequences
  // computed the same prefix at once; the first one stays the shared copy).
  bool register_hash(BlockId b, const BlockHash& hash);
  // Drops a used block's registration before its contents change.
  void unregister(BlockId b);
  bool registered(BlockId b) const { return registered_[b] != 0; }
  const BlockHash& hash_of(BlockId b) const { return hash_[b]; }

  uint8_t* data(BlockId b) { return storage_->data() + size_t(b) * layout_.block_bytes; }
  const uint8_t* data(BlockId b) const { return storage_->data() + size_t(b) * layout_.block_bytes; }
  // Copies all of src's storage (every layer, K and V) into dst.
  void copy_block(BlockId dst, BlockId src);
  const BlockStorage& storage() const { return *storage_; }
  // Moves the blocks' bytes into new storage of the same size (the current
  // storage must be host-accessible) and frees the old one.
  void replace_storage(std::unique_ptr<BlockStorage> storage);
  const BlockLayout& layout() const { return layout_; }
  // nullptr for none. Not owned.
  void set_observer(BlockObserver* observer) { observer_ = observer; }
  uint64_t evictions() const { return evictions_; }  // cached blocks reclaimed by allocate()

  // Walks the LRU list from oldest to newest (for invariant checks and tests).
  template <typename F>
  void for_each_cached(F&& f) const {
    for (uint32_t b = next_[sentinel()]; b != sentinel(); b = next_[b]) f(BlockId(b));
  }
  bool on_free_list(BlockId b) const { return free_slot_[b] != kNoBlock; }
  size_t table_size() const { return table_.size(); }

 private:
  uint32_t sentinel() const { return uint32_t(refcount_.size()); }
  void lru_push_newest(BlockId b);
  void lru_unlink(BlockId b);
  void push_free(BlockId b);
  BlockId pop_free();

  BlockLayout layout_;
  int group_index_;
  std::unique_ptr<BlockStorage> storage_;
  std::vector<uint32_t> refcount_;
  std::vector<BlockHash> hash_;
  std::vector<uint8_t> registered_;
  // LRU of cached blocks: a circular doubly linked list through prev_/next_
  // with node num_blocks as its sentinel; next_[sentinel] is the oldest.
  std::vector<uint32_t> prev_, next_;
  int cached_ = 0;
  std::vector<BlockId> free_;       // stack of free blocks
  std::vector<BlockId> free_slot_;  // position in free_, kNoBlock if not free
  BlockHashTable table_;
  BlockObserver* observer_ = nullptr;
  uint64_t evictions_ = 0;
};

}  // namespace kiln::kv
