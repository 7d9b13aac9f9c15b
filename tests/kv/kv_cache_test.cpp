// Scenario tests of the KV cache: sharing, copy-on-write, prefix reuse,
// eviction order, sliding-window release and recovery, failures.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "kv/prefix_hash.h"
#include "kv_test_util.h"

namespace kiln::kv {
namespace {

using testing::append_computed;
using testing::small_config;

std::vector<Token> iota_tokens(int n, Token start = 0) {
  std::vector<Token> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

// Whether a layer holds, for positions [begin, end) of a sequence, exactly
// the K/V its tokens must produce (rounded through the element type).
bool contents_match(const KvCache& cache, SeqId id, int layer, int64_t begin, int64_t end) {
  const int g = cache.group_of_layer(layer);
  const LayerGroupConfig& gc = cache.config().groups[size_t(g)];
  const int kw = gc.n_kv_heads * gc.k_head_dim, vw = gc.n_kv_heads * gc.v_head_dim;
  std::vector<float> k(static_cast<size_t>((end - begin) * kw)), v(static_cast<size_t>((end - begin) * vw));
  cache.gather(id, layer, begin, end, k.data(), v.data());
  const std::vector<uint64_t> fp = testing::prefix_fingerprints(cache.tokens(id));
  std::vector<float> ek(static_cast<size_t>(kw)), ev(static_cast<size_t>(vw));
  for (int64_t pos = begin; pos < end; ++pos) {
    testing::kv_row(fp[size_t(pos)], layer, 0, kw, ek.data());
    testing::kv_row(fp[size_t(pos)], layer, 1, vw, ev.data());
    testing::stored_row(cache.config().type, cache.layout(g).k_rotation, gc.n_kv_heads, gc.k_head_dim, ek.data());
    testing::stored_row(cache.config().type, cache.layout(g).v_rotation, gc.n_kv_heads, gc.v_head_dim, ev.data());
    if (!std::equal(ek.begin(), ek.end(), k.begin() + (pos - begin) * kw)) return false;
    if (!std::equal(ev.begin(), ev.end(), v.begin() + (pos - begin) * vw)) return false;
  }
  return true;
}

TEST(KvCache, ForkSharesBlocksAndCopiesOnWrite) {
  KvCache cache(small_config(KvType::F16, 16, 0, 32, 0));
  const SeqId a = cache.create_sequence();
  append_computed(cache, a, iota_tokens(40));  // blocks: 16 + 16 + 8
  EXPECT_EQ(cache.pool(0).used_count(), 3);
  const SeqId b = cache.fork(a);
  EXPECT_EQ(cache.pool(0).used_count(), 3) << "fork must not copy";
  for (BlockId blk : cache.block_table(a, 0)) EXPECT_EQ(cache.pool(0).refcount(blk), 2u);

  EXPECT_EQ(cache.blocks_needed(b, 1, 0), 1) << "writing the shared partial tail needs a copy";
  append_computed(cache, b, std::vector<Token>{777});
  EXPECT_EQ(cache.pool(0).used_count(), 4);
  EXPECT_NE(cache.block_table(a, 0)[2], cache.block_table(b, 0)[2]);
  EXPECT_EQ(cache.block_table(a, 0)[1], cache.block_table(b, 0)[1]);
  EXPECT_TRUE(contents_match(cache, a, 0, 0, 40));
  EXPECT_TRUE(contents_match(cache, b, 2, 0, 41));

  EXPECT_EQ(cache.blocks_needed(a, 1, 0), 0) << "a's tail is its own again";
  append_computed(cache, a, std::vector<Token>{555});
  EXPECT_TRUE(contents_match(cache, a, 2, 0, 41));
  EXPECT_TRUE(contents_match(cache, b, 0, 0, 41));
  cache.check_invariants();
}

TEST(KvCache, ForkOfUncomputedSequenceIsRefused) {
  KvCache cache(small_config(KvType::F16, 16, 0, 8, 0));
  const SeqId a = cache.create_sequence();
  cache.append(a, iota_tokens(5));
  EXPECT_THROW(cache.fork(a), kiln::Error);
  cache.check_invariants();
}

TEST(KvCache, PrefixOfFreedSequenceIsReused) {
  KvCache cache(small_config(KvType::Q8_0, 16, 0, 32, 0));
  const std::vector<Token> prompt = iota_tokens(100, 1000);
  const SeqId a = cache.create_sequence();
  append_computed(cache, a, prompt);
  cache.free_sequence(a);
  EXPECT_EQ(cache.pool(0).cached_count(), 6) << "6 full blocks stay cached, the partial one is freed";
  EXPECT_EQ(cache.pool(0).used_count(), 0);

  std::vector<Token> next = prompt;
  next.resize(90);
  next.push_back(1);  // diverges inside block 5
  EXPECT_EQ(cache.cached_prefix_length(next, int64_t(next.size())), 80);
  EXPECT_EQ(cache.cached_prefix_length(prompt, 96), 96);
  EXPECT_EQ(cache.cached_prefix_length(prompt, 95), 80) << "max_tokens keeps tokens to compute";
  const SeqId b = cache.create_sequence();
  EXPECT_EQ(cache.attach_prefix(b, next, int64_t(next.size()) - 1), 80);
  EXPECT_EQ(cache.pool(0).used_count(), 5);
  append_computed(cache, b, std::span(next).subspan(80));
  EXPECT_TRUE(contents_match(cache, b, 0, 0, 91));
  EXPECT_TRUE(contents_match(cache, b, 2, 0, 91));
  EXPECT_THROW(cache.attach_prefix(b, next, 50), kiln::Error) << "attach needs an empty sequence";
  cache.check_invariants();
}

TEST(KvCache, OtherModelIdentityDoesNotMatch) {
  CacheConfig c1 = small_config(KvType::F16, 16, 0, 8, 0), c2 = c1;
  c2.model_identity = "another-model";
  const std::vector<Token> t = iota_tokens(16);
  EXPECT_NE(model_root_hash(c1.model_identity), model_root_hash(c2.model_identity));
  const BlockHash r1 = model_root_hash(c1.model_identity), r2 = model_root_hash(c2.model_identity);
  EXPECT_NE(hash_block(r1, r1, t), hash_block(r2, r2, t));
  // Equal tokens under a different parent are a different block.
  EXPECT_NE(hash_block(r1, r1, t), hash_block(hash_block(r1, r1, t), r1, t));
}

TEST(KvCache, EvictionTakesTheTailOfAFreedSequenceFirst) {
  KvCache cache(small_config(KvType::F16, 16, 0, 6, 0));
  const std::vector<Token> prompt = iota_tokens(64);
  const SeqId a = cache.create_sequence();
  append_computed(cache, a, prompt);
  cache.free_sequence(a);
  EXPECT_EQ(cache.pool(0).cached_count(), 4);
  const SeqId b = cache.create_sequence();
  append_computed(cache, b, iota_tokens(48, 500));  // 3 blocks: 2 free + 1 evicted
  EXPECT_EQ(cache.pool(0).cached_count(), 3);
  EXPECT_EQ(cache.cached_prefix_length(prompt, 64), 48) << "block 3 (the tail) was evicted first";
  cache.check_invariants();
}

TEST(KvCache, OutOfBlocksIsReportedAndChangesNothing) {
  KvCache cache(small_config(KvType::F16, 16, 0, 4, 0));
  const SeqId a = cache.create_sequence();
  append_computed(cache, a, iota_tokens(50));
  const std::vector<BlockId> table(cache.block_table(a, 0).begin(), cache.block_table(a, 0).end());
  EXPECT_FALSE(cache.can_append(a, 20));
  try {
    cache.append(a, iota_tokens(20));
    FAIL() << "expected OutOfBlocks";
  } catch (const OutOfBlocks& e) {
    EXPECT_EQ(e.group(), 0);
    EXPECT_EQ(e.needed(), 1);
    EXPECT_EQ(e.available(), 0);
  }
  EXPECT_EQ(cache.length(a), 50);
  EXPECT_TRUE(std::equal(table.begin(), table.end(), cache.block_table(a, 0).begin()));
  EXPECT_TRUE(contents_match(cache, a, 0, 0, 50));
  cache.check_invariants();
  EXPECT_TRUE(cache.can_append(a, 14));
}

TEST(KvCache, SlidingWindowGroupKeepsOnlyTheWindow) {
  const int window = 40;
  KvCache cache(small_config(KvType::F16, 16, window, 32, 16));
  const SeqId a = cache.create_sequence();
  append_computed(cache, a, iota_tokens(30));
  for (int i = 0; i < 170; ++i) {
    append_computed(cache, a, std::vector<Token>{Token(100 + i)});
    const int64_t n = cache.length(a);
    int held = 0;
    for (BlockId b : cache.block_table(a, 1)) held += b != kNoBlock;
    EXPECT_LE(held, int(max_blocks_per_sequence(cache.config(), cache.config().groups[1], n, 1)));
    EXPECT_LE(cache.first_held_position(a, 1), std::max<int64_t>(0, n - window + 1));
    EXPECT_GE(cache.first_held_position(a, 1), n - window + 1 - 16);
  }
  EXPECT_EQ(cache.pool(0).used_count(), 13) << "the full-attention group keeps everything";
  EXPECT_TRUE(contents_match(cache, a, 1, 200 - window + 1, 200));
  EXPECT_TRUE(contents_match(cache, a, 0, 0, 200));
  EXPECT_THROW(cache.gather(a, 1, 0, 200, nullptr, nullptr), kiln::Error);
  EXPECT_GT(cache.pool(1).cached_count(), 0) << "released full blocks stay findable";
  cache.check_invariants();
}

TEST(KvCache, TruncateTakesBackReleasedWindowBlocksOrRefuses) {
  const int window = 40;
  KvCache cache(small_config(KvType::F16, 16, window, 32, 12));
  const SeqId a = cache.create_sequence();
  // Prefill in chunks of 16: a chunk needs window + chunk tokens of blocks.
  const std::vector<Token> prompt = iota_tokens(200);
  for (size_t i = 0; i < prompt.size(); i += 16)
    append_computed(cache, a, std::span(prompt).subspan(i, std::min<size_t>(16, prompt.size() - i)));
  ASSERT_TRUE(cache.can_truncate(a, 100));
  cache.truncate(a, 100);
  EXPECT_EQ(cache.length(a), 100);
  EXPECT_TRUE(contents_match(cache, a, 1, 100 - window + 1, 100));
  append_computed(cache, a, iota_tokens(10, 9000));  // diverges: writes into block 6
  EXPECT_TRUE(contents_match(cache, a, 1, 110 - window + 1, 110));
  EXPECT_TRUE(contents_match(cache, a, 0, 0, 110));

  // Fill the window group so the released blocks are evicted; going back
  // further is then impossible and must change nothing.
  const SeqId b = cache.create_sequence();
  std::vector<Token> filler = iota_tokens(16 * 7, 20000);
  append_computed(cache, b, std::span(filler).first(60));
  for (size_t i = 60; i < filler.size(); ++i) append_computed(cache, b, std::span(filler).subspan(i, 1));
  const int64_t first_held = cache.first_held_position(a, 1);
  if (!cache.can_truncate(a, 20)) {
    EXPECT_THROW(cache.truncate(a, 20), kiln::Error);
    EXPECT_EQ(cache.length(a), 110);
    EXPECT_EQ(cache.first_held_position(a, 1), first_held);
  } else {
    ADD_FAILURE() << "the blocks of positions 0..19 should have been evicted";
  }
  cache.check_invariants();
}

TEST(KvCache, PrefixReuseWithWindowNeedsOnlyTheWindowBlocks) {
  const int window = 40;
  KvCache cache(small_config(KvType::Q8_0, 32, window, 16, 8));
  const std::vector<Token> prompt = iota_tokens(200, 300);
  const SeqId a = cache.create_sequence();
  append_computed(cache, a, prompt);
  cache.free_sequence(a);
  const SeqId b = cache.create_sequence();
  EXPECT_EQ(cache.attach_prefix(b, prompt, 199), 192);
  // A query at 192 sees keys >= 153: blocks 4 and 5 of the window group.
  EXPECT_EQ(cache.first_held_position(b, 1), 128);
  EXPECT_EQ(cache.block_table(b, 1)[3], kNoBlock);
  append_computed(cache, b, std::span(prompt).subspan(192));
  EXPECT_TRUE(contents_match(cache, b, 1, 200 - window + 1, 200));
  EXPECT_TRUE(contents_match(cache, b, 0, 0, 200));
  cache.check_invariants();
}

TEST(KvCache, SameBlocksComputedTwiceKeepOneRegistered) {
  KvCache cache(small_config(KvType::F16, 16, 0, 16, 0));
  const std::vector<Token> prompt = iota_tokens(48);
  const SeqId a = cache.create_sequence(), b = cache.create_sequence();
  append_computed(cache, a, prompt);
  append_computed(cache, b, prompt);  // no reuse: both compute
  EXPECT_EQ(cache.pool(0).used_count(), 6);
  EXPECT_EQ(cache.pool(0).table_size(), 3u);
  cache.free_sequence(a);
  EXPECT_EQ(cache.pool(0).cached_count(), 3);
  cache.free_sequence(b);
  EXPECT_EQ(cache.pool(0).free_count(), 13) << "b's unregistered copies go to the free list";
  cache.check_invariants();
}

TEST(KvCache, SequenceIdsAreDenseAndRecycled) {
  CacheConfig c = small_config(KvType::F16, 16, 0, 8, 0);
  c.max_sequences = 3;
  KvCache cache(c);
  EXPECT_EQ(cache.create_sequence(), 0u);
  EXPECT_EQ(cache.create_sequence(), 1u);
  EXPECT_EQ(cache.create_sequence(), 2u);
  EXPECT_THROW(cache.create_sequence(), kiln::Error);
  cache.free_sequence(1);
  EXPECT_FALSE(cache.contains(1));
  EXPECT_FALSE(cache.contains(99));
  EXPECT_THROW(cache.length(1), kiln::Error);
  EXPECT_EQ(cache.create_sequence(), 1u);
  EXPECT_EQ(cache.num_sequences(), 3);
  cache.check_invariants();
}

TEST(KvCache, WritePlacesEachHeadRowWhereTheLayoutSays) {
  for (KvType type : {KvType::F16, KvType::Q8_0}) {
    KvCache cache(small_config(type, 16, 32, 4, 4));
    const SeqId a = cache.create_sequence();
    cache.append(a, iota_tokens(21));
    const int layer = 2, g = cache.group_of_layer(layer);
    const LayerGroupConfig& gc = cache.config().groups[size_t(g)];
    const BlockLayout& l = cache.layout(g);
    std::vector<float> k(static_cast<size_t>(gc.n_kv_heads * gc.k_head_dim)),
        v(static_cast<size_t>(gc.n_kv_heads * gc.v_head_dim));
    for (size_t i = 0; i < k.size(); ++i) k[i] = float(i % 29) * 0.37f - 5.0f;
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(i % 31) * -0.21f + 3.0f;
    const int64_t slot = cache.slot(a, g, 20);  // block 1, offset 4
    cache.write(layer, slot, k.data(), v.data());
    const BlockId block = cache.block_table(a, g)[1];
    EXPECT_EQ(slot, int64_t(block) * 16 + 4);
    std::vector<uint8_t> want(std::max(l.k_row_bytes, l.v_row_bytes));
    std::vector<float> scratch(static_cast<size_t>(std::max(gc.k_head_dim, gc.v_head_dim)));
    for (int h = 0; h < gc.n_kv_heads; ++h) {
      store_row(type, l.k_rotation, k.data() + h * gc.k_head_dim, want.data(), gc.k_head_dim, scratch.data());
      EXPECT_EQ(std::memcmp(cache.k_data(layer, block) + h * l.k_head_stride + 4 * l.k_row_bytes, want.data(),
                            l.k_row_bytes), 0) << kv_type_name(type) << " K head " << h;
      store_row(type, l.v_rotation, v.data() + h * gc.v_head_dim, want.data(), gc.v_head_dim, scratch.data());
      EXPECT_EQ(std::memcmp(cache.v_data(layer, block) + h * l.v_head_stride + 4 * l.v_row_bytes, want.data(),
                            l.v_row_bytes), 0) << kv_type_name(type) << " V head " << h;
    }
    // Layer 0 shares the block but owns other bytes.
    EXPECT_EQ(cache.k_data(2, block) - cache.k_data(0, block), ptrdiff_t(l.layer_stride));
    EXPECT_THROW(cache.write(layer, 4 * 16, k.data(), v.data()), kiln::Error);
    EXPECT_EQ(cache.slot(a, 1, 3), int64_t(cache.block_table(a, 1)[0]) * 16 + 3);
  }
}

TEST(KvCacheConfig, RejectsBadShapes) {
  const auto bad = [](auto edit) {
    CacheConfig c = small_config(KvType::Q8_0, 16, 32, 8, 8);
    edit(c);
    return c;
  };
  EXPECT_THROW(KvCache(bad([](CacheConfig& c) { c.block_size = 8; })), kiln::Error);
  EXPECT_THROW(KvCache(bad([](CacheConfig& c) { c.block_size = 128; })), kiln::Error);
  EXPECT_THROW(KvCache(bad([](CacheConfig& c) { c.groups[0].k_head_dim = 48; })), kiln::Error);
  EXPECT_THROW(KvCache(bad([](CacheConfig& c) { c.groups[1].layers = {0}; })), kiln::Error);
  EXPECT_THROW(KvCache(bad([](CacheConfig& c) { c.groups[0].num_blocks = 0; })), kiln::Error);
  EXPECT_THROW(KvCache(bad([](CacheConfig& c) { c.groups.clear(); })), kiln::Error);
  EXPECT_THROW(KvCache(bad([](CacheConfig& c) { c.max_sequences = 0; })), kiln::Error);
  try {
    KvCache cache(bad([](CacheConfig& c) { c.groups[0].v_head_dim = 40; }));
    ADD_FAILURE() << "a q8_0 head dim of 40 was accepted";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of 32"), std::string::npos) << e.what();
  }
  KvCache ok(bad([](CacheConfig&) {}));
  EXPECT_THROW(ok.group_of_layer(7), kiln::Error);
  EXPECT_EQ(ok.group_of_layer(1), 1);
  EXPECT_EQ(ok.local_layer(2), 1);
}

}  // namespace
}  // namespace kiln::kv
