// Unit tests of the block pool (states, LRU order, storage) and of the
// fixed-capacity block hash table.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>

#include "kv/block_pool.h"

namespace kiln::kv {
namespace {

BlockLayout tiny_layout() {
  CacheConfig c;
  c.block_size = 16;
  LayerGroupConfig g;
  g.layers = {0, 1};
  g.n_kv_heads = 2;
  g.k_head_dim = 32;
  g.v_head_dim = 32;
  g.num_blocks = 4;
  return make_layout(c, g);
}

BlockHash h(uint64_t x) { return BlockHash{x * 0x9e3779b97f4a7c15ull, x}; }

TEST(BlockLayout, SectionsAreAlignedAndDisjoint) {
  const BlockLayout l = tiny_layout();
  EXPECT_EQ(l.k_row_bytes, 64u);                // 32 f16
  EXPECT_EQ(l.k_head_stride, 64u * 16);         // one head: 16 tokens
  EXPECT_EQ(l.v_offset, 2u * 64 * 16);          // after both heads' K
  EXPECT_EQ(l.layer_stride, 2u * 2 * 64 * 16);  // K and V
  EXPECT_EQ(l.block_bytes % 64, 0u);
  EXPECT_EQ(l.v_offset_of(1), l.layer_stride + l.v_offset);
  CacheConfig q;
  q.type = KvType::Q8_0;
  q.block_size = 17;
  LayerGroupConfig g;
  g.layers = {0};
  g.n_kv_heads = 3;
  g.k_head_dim = 64;
  g.v_head_dim = 32;
  const BlockLayout lq = make_layout(q, g);
  EXPECT_EQ(lq.k_row_bytes, 68u);  // 2 q8_0 blocks of 34 bytes
  EXPECT_EQ(lq.v_row_bytes, 34u);
  EXPECT_EQ(lq.v_offset % 64, 0u);
  EXPECT_GE(lq.v_offset, 3u * 17 * 68);
  EXPECT_GE(lq.layer_stride - lq.v_offset, 3u * 17 * 34);
}

TEST(BlockPool, AllocatesReleasesAndEvictsOldestCachedFirst) {
  BlockPool pool(tiny_layout(), 4, 0);
  EXPECT_EQ(pool.available(), 4);
  const BlockId a = pool.allocate(), b = pool.allocate(), c = pool.allocate(), d = pool.allocate();
  EXPECT_EQ(pool.used_count(), 4);
  EXPECT_THROW(pool.allocate(), OutOfBlocks);
  EXPECT_EQ(pool.used_count(), 4);
  ASSERT_TRUE(pool.register_hash(a, h(1)));
  ASSERT_TRUE(pool.register_hash(b, h(2)));
  EXPECT_FALSE(pool.register_hash(c, h(1))) << "a hash names one block";
  pool.release(b);  // cached, oldest
  pool.release(a);  // cached, newest
  pool.release(c);  // unregistered: free
  EXPECT_EQ(pool.cached_count(), 2);
  EXPECT_EQ(pool.free_count(), 1);
  EXPECT_EQ(pool.allocate(), c) << "the free list comes before eviction";
  EXPECT_EQ(pool.allocate(), b) << "then the least recently released cached block";
  EXPECT_EQ(pool.find(h(2)), kNoBlock) << "evicted blocks lose their hash";
  EXPECT_EQ(pool.find(h(1)), a);
  pool.retain(a);  // a cached block back in use
  EXPECT_EQ(pool.cached_count(), 0);
  EXPECT_EQ(pool.refcount(a), 1u);
  pool.retain(a);
  pool.release(a);
  EXPECT_EQ(pool.refcount(a), 1u);
  pool.unregister(a);
  EXPECT_EQ(pool.find(h(1)), kNoBlock);
  pool.release(a);
  EXPECT_TRUE(pool.on_free_list(a));
  EXPECT_THROW(pool.release(a), kiln::Error);
  EXPECT_THROW(pool.retain(a), kiln::Error) << "a free block cannot be shared";
  (void)d;
}

TEST(BlockPool, CopyBlockCopiesEveryLayer) {
  BlockPool pool(tiny_layout(), 2, 0);
  const BlockId a = pool.allocate(), b = pool.allocate();
  for (size_t i = 0; i < pool.layout().block_bytes; ++i) pool.data(a)[i] = uint8_t(i * 7);
  pool.copy_block(b, a);
  EXPECT_EQ(std::memcmp(pool.data(a), pool.data(b), pool.layout().block_bytes), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(pool.data(b)) % 64, 0u);
}

TEST(BlockHashTable, MatchesAStdMapUnderRandomInsertsAndErases) {
  BlockHashTable table(64);
  std::map<uint64_t, BlockId> model;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    // Keys from a small range collide in their home slots all the time,
    // which exercises probing and backward-shift deletion.
    const uint64_t k = rng() % 96;
    const BlockHash key{k % 24, k};  // 4 keys per home slot on purpose
    if (rng() % 2 == 0 && model.size() < 64) {
      const bool inserted = table.insert(key, BlockId(k));
      EXPECT_EQ(inserted, model.emplace(k, BlockId(k)).second);
    } else {
      const bool erased = table.erase(key, BlockId(k));
      EXPECT_EQ(erased, model.erase(k) == 1);
    }
    ASSERT_EQ(table.size(), model.size());
    for (uint64_t q = 0; q < 96; ++q) {
      const auto it = model.find(q);
      ASSERT_EQ(table.find(BlockHash{q % 24, q}), it == model.end() ? kNoBlock : it->second);
    }
  }
  EXPECT_FALSE(table.erase(BlockHash{1, 2}, 5));
}

TEST(BlockHashTable, RefusesMoreEntriesThanItWasSizedFor) {
  BlockHashTable table(2);
  EXPECT_TRUE(table.insert(h(1), 1));
  EXPECT_TRUE(table.insert(h(2), 2));
  EXPECT_THROW(table.insert(h(3), 3), kiln::Error);
}

}  // namespace
}  // namespace kiln::kv
