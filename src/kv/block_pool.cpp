#include "kv/block_pool.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"

namespace kiln::kv {

BlockPool::BlockPool(const BlockLayout& layout, int num_blocks, int group_index)
    : layout_(layout),
      group_index_(group_index),
      refcount_(size_t(num_blocks), 0),
      hash_(size_t(num_blocks)),
      registered_(size_t(num_blocks), 0),
      prev_(size_t(num_blocks) + 1),
      next_(size_t(num_blocks) + 1),
      free_slot_(size_t(num_blocks), kNoBlock),
      table_(size_t(num_blocks)) {
  if (num_blocks <= 0) throw kiln::Error("KV block pool needs at least one block");
  storage_ = make_host_storage(layout.block_bytes * size_t(num_blocks), group_index);
  prev_[sentinel()] = next_[sentinel()] = sentinel();
  free_.reserve(size_t(num_blocks));
  // Pushed in reverse so that allocation hands out blocks 0, 1, 2... (lower
  // addresses first, which keeps a fresh cache's working set compact).
  for (int b = num_blocks - 1; b >= 0; --b) push_free(BlockId(b));
}

void BlockPool::push_free(BlockId b) {
  free_slot_[b] = BlockId(free_.size());
  free_.push_back(b);
}

BlockId BlockPool::pop_free() {
  const BlockId b = free_.back();
  free_.pop_back();
  free_slot_[b] = kNoBlock;
  return b;
}

void BlockPool::lru_push_newest(BlockId b) {
  const uint32_t s = sentinel();
  const uint32_t last = prev_[s];
  prev_[b] = last;
  next_[b] = s;
  next_[last] = b;
  prev_[s] = b;
  ++cached_;
}

void BlockPool::lru_unlink(BlockId b) {
  next_[prev_[b]] = next_[b];
  prev_[next_[b]] = prev_[b];
  --cached_;
}

BlockId BlockPool::allocate() {
  BlockId b;
  if (!free_.empty()) {
    b = pop_free();
  } else if (cached_ > 0) {
    b = next_[sentinel()];  // oldest cached block
    lru_unlink(b);
    table_.erase(hash_[b], b);
    registered_[b] = 0;
    ++evictions_;
    if (observer_) observer_->on_evicted(group_index_, b, hash_[b]);
  } else {
    throw OutOfBlocks(group_index_, 1, 0);
  }
  refcount_[b] = 1;
  return b;
}

void BlockPool::retain(BlockId b) {
  if (refcount_[b] == 0) {
    if (!registered_[b])
      throw kiln::Error("KV block " + std::to_string(b) + " retained while free");
    lru_unlink(b);
  }
  ++refcount_[b];
}

void BlockPool::release(BlockId b) {
  if (refcount_[b] == 0) throw kiln::Error("KV block " + std::to_string(b) + " released twice");
  if (--refcount_[b] > 0) return;
  if (registered_[b])
    lru_push_newest(b);
  else
    push_free(b);
}

bool BlockPool::register_hash(BlockId b, const BlockHash& hash) {
  if (registered_[b]) return hash_[b] == hash;
  if (!table_.insert(hash, b)) return false;
  hash_[b] = hash;
  registered_[b] = 1;
  if (observer_) observer_->on_registered(group_index_, b, hash);
  return true;
}

void BlockPool::unregister(BlockId b) {
  if (!registered_[b]) return;
  table_.erase(hash_[b], b);
  registered_[b] = 0;
  if (refcount_[b] == 0) {  // was cached: without its hash it is just free
    lru_unlink(b);
    push_free(b);
  }
}

void BlockPool::copy_block(BlockId dst, BlockId src) {
  storage_->copy(size_t(dst) * layout_.block_bytes, size_t(src) * layout_.block_bytes, layout_.block_bytes);
}

void BlockPool::replace_storage(std::unique_ptr<BlockStorage> storage) {
  if (!storage || storage->bytes() != storage_->bytes())
    throw kiln::Error("KV storage of layer group " + std::to_string(group_index_) + " replaced by one of another size");
  if (!storage_->host_accessible())
    throw kiln::Error("KV storage of layer group " + std::to_string(group_index_) + " can only move out of host memory");
  storage->copy_from_host(storage_->data(), storage_->bytes());
  storage_ = std::move(storage);
}

}  // namespace kiln::kv
