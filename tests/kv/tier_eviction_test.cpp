// The disk tier's budget and eviction order: the index on its own (chains,
// admission, hot against cold), then through a KvCache (budget with many
// entries, a growing conversation among one-off prompts, random concurrent
// sequences sharing and evicting blocks across RAM, disk and restarts).
#include <gtest/gtest.h>

#include <random>

#include "kv/tier_disk_index.h"
#include "tier_test_util.h"

namespace kiln::kv {
namespace {

using testing::disk_config;
using testing::entry_files;
using testing::holds_expected_kv;
using testing::run_prompt;
using testing::small_config;
using testing::TempDir;
using testing::token_range;

constexpr uint64_t kEntry = 4096;  // disk bytes of one index entry in these tests

// Keys of a chain: block i's parent is block i-1.
std::vector<tier::EntryKey> chain(uint64_t id, int n) {
  std::vector<tier::EntryKey> keys;
  for (int i = 0; i < n; ++i) keys.push_back({BlockHash{id * 1000 + uint64_t(i), id}, 0});
  return keys;
}

bool admit_chain(tier::DiskIndex& index, const std::vector<tier::EntryKey>& keys, double tick, int from = 0,
                 std::vector<tier::EntryKey>* evicted_out = nullptr) {
  std::vector<tier::EntryKey> evicted;
  bool all = true;
  for (size_t i = size_t(from); i < keys.size(); ++i)
    all &= index.admit(keys[i], i == 0 ? BlockHash{} : keys[i - 1].hash, uint32_t(i), kEntry, tick, true, evicted);
  if (evicted_out) *evicted_out = evicted;
  return all;
}

void touch_chain(tier::DiskIndex& index, const std::vector<tier::EntryKey>& keys, int n, double tick) {
  for (int i = 0; i < n; ++i) index.touch(keys[size_t(i)], tick, uint32_t(n), true);
}

TEST(KvTierIndex, AChainIsEvictedFromItsEndNeverFromItsStart) {
  tier::DiskIndex index(100 * kEntry);
  const auto a = chain(1, 10);
  ASSERT_TRUE(admit_chain(index, a, 1.0));
  const std::vector<tier::EntryKey> order = index.eviction_order();
  ASSERT_EQ(order.size(), 10u);
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], a[9 - i]) << i;
  // A longer turn of the same conversation reuses the chain and extends it:
  // the extension goes first, then the old end, and the start goes last.
  const auto longer = chain(1, 14);
  touch_chain(index, longer, 10, 2.0);
  ASSERT_TRUE(admit_chain(index, longer, 2.0, 10));
  const std::vector<tier::EntryKey> order2 = index.eviction_order();
  for (size_t i = 0; i < order2.size(); ++i) EXPECT_EQ(order2[i], longer[13 - i]) << i;
}

TEST(KvTierIndex, AFullBudgetKeepsTheStartOfAChainAndRefusesItsOwnTail) {
  tier::DiskIndex index(5 * kEntry);
  const auto a = chain(1, 8);
  EXPECT_FALSE(admit_chain(index, a, 1.0));  // blocks 5..7 are refused
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(index.contains(a[size_t(i)])) << i;
  for (int i = 5; i < 8; ++i) EXPECT_FALSE(index.contains(a[size_t(i)])) << i;  // 6, 7: orphans
  EXPECT_EQ(index.bytes(), 5 * kEntry);
  // A later conversation takes the room from the older one's end.
  const auto b = chain(2, 2);
  std::vector<tier::EntryKey> evicted;
  EXPECT_TRUE(admit_chain(index, b, 2.0, 0, &evicted));
  EXPECT_EQ(evicted, (std::vector<tier::EntryKey>{a[4], a[3]}));
  EXPECT_LE(index.bytes(), index.budget());
}

TEST(KvTierIndex, LongHotPrefixesOutliveNewerColdOnes) {
  tier::DiskIndex index(24 * kEntry);
  const auto hot = chain(1, 16);
  ASSERT_TRUE(admit_chain(index, hot, 1.0));
  for (double t = 2; t <= 4; ++t) touch_chain(index, hot, 16, t);  // three reuses
  // Cold one-off prompts keep arriving; they compete among themselves.
  // (the reuses are worth about 16 ticks of recency)
  for (uint64_t id = 5; id < 13; ++id) admit_chain(index, chain(id, 4), double(id));
  for (const auto& k : hot) EXPECT_TRUE(index.contains(k));
  EXPECT_LE(index.bytes(), index.budget());
  // Much later, a hot prefix that is not reused any more does age out.
  for (uint64_t id = 100; id < 110; ++id) admit_chain(index, chain(id, 4), double(id));
  EXPECT_FALSE(index.contains(hot[15]));
}

TEST(KvTierIndex, RestartRanksAncestorsWithTheirNewestDescendant) {
  tier::DiskIndex index(4 * kEntry);
  const auto a = chain(1, 3), b = chain(2, 3);
  // File times: a's start is the oldest file, but a's end is the newest.
  index.load(a[0], {}, 0, kEntry, 0);
  index.load(b[0], {}, 0, kEntry, 1);
  index.load(b[1], b[0].hash, 1, kEntry, 2);
  index.load(b[2], b[1].hash, 2, kEntry, 3);
  index.load(a[1], a[0].hash, 1, kEntry, 4);
  index.load(a[2], a[1].hash, 2, kEntry, 5);
  std::vector<tier::EntryKey> evicted;
  index.finish_load(evicted);  // 6 entries, room for 4: b goes from its end
  EXPECT_EQ(evicted, (std::vector<tier::EntryKey>{b[2], b[1]}));
  EXPECT_EQ(index.bytes(), 4 * kEntry);
}

TEST(KvTierBudget, ManyEntriesNeverExceedTheBudget) {
  TempDir dir;
  const CacheConfig config = small_config(KvType::F16, 16, 0, 32, 0);
  KvCache probe(config);
  const uint64_t entry = tier::entry_disk_bytes(probe.layout(0).block_bytes);
  const uint64_t budget = 40 * entry + entry / 2;
  KvCache cache(config);
  cache.enable_disk_tier(disk_config(dir.path(), budget));
  for (int p = 0; p < 120; ++p) {
    const std::vector<Token> prompt = token_range(50, 100000 + p * 1000);  // 3 full blocks each
    cache.free_sequence(run_prompt(cache, prompt));
    if (p % 10 == 9) {
      cache.flush_disk_tier();
      const DiskTierStats s = cache.tier_stats().disk;
      ASSERT_LE(s.bytes, budget);
      uint64_t on_disk = 0;
      const auto files = entry_files(cache.disk_tier_directory());
      for (const auto& f : files) on_disk += tier::entry_disk_bytes(std::filesystem::file_size(f) - tier::kHeaderBytes);
      EXPECT_EQ(files.size(), s.blocks);
      EXPECT_EQ(on_disk, s.bytes);
      EXPECT_LE(on_disk, budget);
    }
  }
  const DiskTierStats s = cache.tier_stats().disk;
  EXPECT_EQ(s.blocks, 40u);
  EXPECT_EQ(s.writes, 360u);
  EXPECT_EQ(s.writes - s.evictions, s.blocks);
  EXPECT_EQ(s.writes_dropped, 0u);
  // The newest prompts are the ones kept.
  EXPECT_EQ(cache.cached_prefix_length(token_range(50, 100000 + 119 * 1000), 49), 48);
}

TEST(KvTierBudget, AGrowingConversationKeepsItsWholePrefixAmongOneOffPrompts) {
  TempDir dir;
  const CacheConfig config = small_config(KvType::F16, 16, 0, 24, 0);  // RAM smaller than the conversation
  KvCache probe(config);
  const uint64_t budget = 30 * tier::entry_disk_bytes(probe.layout(0).block_bytes);
  std::vector<Token> conversation = token_range(8 * 16 + 5, 1);
  {
    KvCache cache(config);
    cache.enable_disk_tier(disk_config(dir.path(), budget));
    for (int turn = 0; turn < 4; ++turn) {
      int64_t reused = 0;
      cache.free_sequence(run_prompt(cache, conversation, &reused));
      if (turn > 0) EXPECT_GE(reused, int64_t(conversation.size()) / 16 * 16 - 64) << turn;
      // Other users' one-off prompts of 8 blocks in between.
      for (int other = 0; other < 2; ++other)
        cache.free_sequence(run_prompt(cache, token_range(8 * 16 + 3, 50000 + turn * 2000 + other * 1000)));
      cache.flush_disk_tier();
      EXPECT_LE(cache.tier_stats().disk.bytes, budget);
      // The next turn: the answer and a new question appended.
      const std::vector<Token> more = token_range(3 * 16, 20000 + turn * 100);
      conversation.insert(conversation.end(), more.begin(), more.end());
    }
  }
  KvCache restarted(config);
  restarted.enable_disk_tier(disk_config(dir.path(), budget));
  // 8 + 3*3 = 17 blocks of the last turn's prompt: all of them survived.
  const int64_t last_turn_blocks = (int64_t(conversation.size()) - 48) / 16;
  EXPECT_EQ(restarted.cached_prefix_length(conversation, int64_t(conversation.size()) - 1), last_turn_blocks * 16);
}

TEST(KvTierShared, RandomSequencesShareAndEvictAcrossRamDiskAndRestarts) {
  TempDir dir;
  const CacheConfig config = small_config(KvType::Q8_0, 16, 40, 40, 24);
  KvCache probe(config);
  const uint64_t budget = 60 * tier::entry_disk_bytes(probe.layout(0).block_bytes);
  std::mt19937 rng(1234);
  std::vector<std::vector<Token>> bases;
  for (int b = 0; b < 4; ++b) bases.push_back(token_range(int(rng() % 80) + 40, Token(b * 10000)));
  auto cache = std::make_unique<KvCache>(config);
  cache->enable_disk_tier(disk_config(dir.path(), budget));
  std::vector<SeqId> live;
  int restored_requests = 0;
  for (int step = 0; step < 300; ++step) {
    const int action = int(rng() % 10);
    if (action < 5) {
      std::vector<Token> prompt = bases[rng() % bases.size()];
      const int extra = int(rng() % 40);
      for (int i = 0; i < extra; ++i) prompt.push_back(Token(rng() % 5 == 0 ? 7 : rng() % 50000));
      const SeqId id = cache->create_sequence();
      const uint64_t disk_hits = cache->tier_stats().disk.hits;
      const int64_t n = cache->attach_prefix(id, prompt, int64_t(prompt.size()) - 1);
      restored_requests += cache->tier_stats().disk.hits > disk_hits;
      try {
        testing::append_computed(*cache, id, std::span<const Token>(prompt).subspan(size_t(n)));
        ASSERT_TRUE(holds_expected_kv(*cache, id)) << "step " << step;
        live.push_back(id);
      } catch (const OutOfBlocks&) {
        cache->free_sequence(id);
      }
    } else if (action < 9 && !live.empty()) {
      const size_t i = rng() % live.size();
      cache->free_sequence(live[i]);
      live.erase(live.begin() + long(i));
    } else if (action == 9) {
      if (rng() % 3 == 0) {  // restart: everything in RAM is gone
        for (SeqId id : live) cache->free_sequence(id);
        live.clear();
        cache.reset();
        cache = std::make_unique<KvCache>(config);
        cache->enable_disk_tier(disk_config(dir.path(), budget));
      } else {
        cache->flush_disk_tier();
      }
    }
    cache->check_invariants();
    ASSERT_LE(cache->tier_stats().disk.bytes, budget);
  }
  for (SeqId id : live) cache->free_sequence(id);
  cache->check_invariants();
  for (int g = 0; g < cache->num_groups(); ++g) EXPECT_EQ(cache->pool(g).used_count(), 0);
  EXPECT_GT(restored_requests, 5);
  EXPECT_EQ(cache->tier_stats().disk.corrupt_removed, 0u);
}

}  // namespace
}  // namespace kiln::kv
