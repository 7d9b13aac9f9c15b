// The disk tier of the KV cache: persistence across a restart, corruption
// and crash safety.
#include <gtest/gtest.h>

#include <fstream>

#include "kv/prefix_hash.h"
#include "kv/tier_disk_format.h"
#include "tier_test_util.h"

namespace kiln::kv {
namespace {

using testing::append_computed;
using testing::disk_config;
using testing::entry_files;
using testing::holds_expected_kv;
using testing::run_prompt;
using testing::small_config;
using testing::TempDir;
using testing::token_range;

constexpr uint64_t kBudget = uint64_t(64) << 20;

// Hash of block i of a prompt (the chain from the test model's root).
BlockHash block_hash(std::span<const Token> prompt, int block_size, int i) {
  const BlockHash root = model_root_hash("test-model");
  BlockHash h = root;
  for (int b = 0; b <= i; ++b) h = hash_block(h, root, prompt.subspan(size_t(b * block_size), size_t(block_size)));
  return h;
}

std::filesystem::path entry_path(const KvCache& cache, std::span<const Token> prompt, int i, int group = 0) {
  return std::filesystem::path(cache.disk_tier_directory()) /
         tier::entry_file_name({block_hash(prompt, cache.block_size(), i), uint32_t(group)});
}

// Computes prompt in a cache with a disk tier and waits for the writes.
void compute_and_persist(const CacheConfig& config, const std::filesystem::path& dir, std::span<const Token> prompt) {
  KvCache cache(config);
  cache.enable_disk_tier(disk_config(dir, kBudget));
  const SeqId id = run_prompt(cache, prompt);
  cache.free_sequence(id);
  cache.flush_disk_tier();
}

TEST(KvTierDisk, PrefixSurvivesRestartWithIdenticalKv) {
  TempDir dir;
  const CacheConfig config = small_config(KvType::F16, 16, 0, 64, 0);
  const std::vector<Token> prompt = token_range(100, 7);  // 6 full blocks
  std::vector<float> k_before(size_t(96 * 2 * 32)), v_before(size_t(96 * 2 * 64));
  {
    KvCache cache(config);
    cache.enable_disk_tier(disk_config(dir.path(), kBudget));
    const SeqId id = run_prompt(cache, prompt);
    cache.gather(id, 2, 0, 96, k_before.data(), v_before.data());
    cache.free_sequence(id);
    cache.flush_disk_tier();
    EXPECT_EQ(cache.tier_stats().disk.writes, 6u);
    EXPECT_EQ(cache.tier_stats().disk.blocks, 6u);
  }
  KvCache restarted(config);  // a new process: empty pools
  restarted.enable_disk_tier(disk_config(dir.path(), kBudget));
  EXPECT_EQ(restarted.tier_stats().disk.blocks, 6u);
  EXPECT_EQ(restarted.cached_prefix_length(prompt, 99), 96);
  // A new question after the same context reuses all of it.
  std::vector<Token> next = prompt;
  next.resize(96);
  for (Token t : token_range(40, 5000)) next.push_back(t);
  const SeqId id = restarted.create_sequence();
  EXPECT_EQ(restarted.attach_prefix(id, next, int64_t(next.size()) - 1), 96);
  std::vector<float> k_after(k_before.size()), v_after(v_before.size());
  restarted.gather(id, 2, 0, 96, k_after.data(), v_after.data());
  EXPECT_EQ(k_after, k_before);
  EXPECT_EQ(v_after, v_before);
  EXPECT_TRUE(holds_expected_kv(restarted, id));
  const KvTierStats stats = restarted.tier_stats();
  EXPECT_EQ(stats.disk.hits, 6u);
  EXPECT_EQ(stats.disk.restored_bytes, 6u * restarted.layout(0).block_bytes);
  EXPECT_EQ(stats.ram.hits, 0u);
  restarted.check_invariants();
  // The rest is computed as usual; the restored blocks are RAM-cached now.
  append_computed(restarted, id, std::span<const Token>(next).subspan(96));
  restarted.free_sequence(id);
  const SeqId again = restarted.create_sequence();
  EXPECT_EQ(restarted.attach_prefix(again, next, int64_t(next.size()) - 1), 128);
  EXPECT_EQ(restarted.tier_stats().disk.hits, 6u);  // all from RAM this time
  restarted.free_sequence(again);
  restarted.check_invariants();
}

TEST(KvTierDisk, SlidingWindowGroupRestoresOnlyItsWindow) {
  TempDir dir;
  const CacheConfig config = small_config(KvType::Q8_0, 16, 40, 64, 64);
  const std::vector<Token> prompt = token_range(170, 3);  // 10 full blocks
  compute_and_persist(config, dir.path(), prompt);
  KvCache cache(config);
  cache.enable_disk_tier(disk_config(dir.path(), kBudget));
  EXPECT_EQ(cache.tier_stats().disk.blocks, 20u);  // 10 blocks x 2 groups
  const SeqId id = cache.create_sequence();
  EXPECT_EQ(cache.attach_prefix(id, prompt, 169), 160);
  // Global group: all 10 blocks; window 40 from position 160: blocks 7..9.
  EXPECT_EQ(cache.tier_stats().disk.hits, 13u);
  EXPECT_EQ(cache.first_held_position(id, 1), 112);
  EXPECT_TRUE(holds_expected_kv(cache, id));
  append_computed(cache, id, std::span<const Token>(prompt).subspan(160));
  EXPECT_TRUE(holds_expected_kv(cache, id));
  cache.free_sequence(id);
  cache.check_invariants();
}

TEST(KvTierDisk, WindowBlockMissingOnDiskShortensThePrefix) {
  TempDir dir;
  const CacheConfig config = small_config(KvType::F16, 16, 40, 64, 64);
  const std::vector<Token> prompt = token_range(170, 3);
  std::string model_dir;
  {
    KvCache cache(config);
    cache.enable_disk_tier(disk_config(dir.path(), kBudget));
    cache.free_sequence(run_prompt(cache, prompt));
    cache.flush_disk_tier();
    model_dir = cache.disk_tier_directory();
    std::filesystem::remove(entry_path(cache, prompt, 8, 1));  // window group, block 8
  }
  KvCache cache(config);
  cache.enable_disk_tier(disk_config(dir.path(), kBudget));
  // A prefix of 9 or 10 blocks needs window block 8; 8 blocks need 5..7.
  EXPECT_EQ(cache.cached_prefix_length(prompt, 169), 128);
  const SeqId id = cache.create_sequence();
  EXPECT_EQ(cache.attach_prefix(id, prompt, 169), 128);
  EXPECT_TRUE(holds_expected_kv(cache, id));
  cache.free_sequence(id);
  cache.check_invariants();
}

class KvTierCorruption : public ::testing::Test {
 protected:
  const CacheConfig config = small_config(KvType::F16, 16, 0, 64, 0);
  const std::vector<Token> prompt = token_range(100, 11);
  TempDir dir;

  // Persists the prompt, then lets damage() change files of a cache on the
  // same directory, then opens a fresh one and attaches the prompt.
  template <typename F>
  int64_t restart_after(F&& damage, KvTierStats* stats = nullptr) {
    compute_and_persist(config, dir.path(), prompt);
    {
      KvCache probe(config);
      probe.enable_disk_tier(disk_config(dir.path(), kBudget));
      damage(probe);
    }
    KvCache cache(config);
    cache.enable_disk_tier(disk_config(dir.path(), kBudget));
    const SeqId id = cache.create_sequence();
    const int64_t n = cache.attach_prefix(id, prompt, 99);
    EXPECT_TRUE(holds_expected_kv(cache, id));
    cache.check_invariants();
    cache.free_sequence(id);
    if (stats) *stats = cache.tier_stats();
    return n;
  }
};

TEST_F(KvTierCorruption, FlippedPayloadByteIsDetectedOnReadAndRemoved) {
  std::filesystem::path victim;
  KvTierStats stats;
  const int64_t n = restart_after(
      [&](KvCache& c) {
        victim = entry_path(c, prompt, 3);
        std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(tier::kHeaderBytes + 1000);
        char byte;
        f.read(&byte, 1);
        byte ^= 0x10;
        f.seekp(tier::kHeaderBytes + 1000);
        f.write(&byte, 1);
      },
      &stats);
  EXPECT_EQ(n, 48);  // blocks 0..2; block 3 is recomputed
  EXPECT_EQ(stats.disk.corrupt_removed, 1u);
  EXPECT_EQ(stats.disk.hits, 3u);
  EXPECT_FALSE(std::filesystem::exists(victim));
}

TEST_F(KvTierCorruption, TruncatedFileIsRemovedAtStartup) {
  std::filesystem::path victim;
  KvTierStats stats;
  const int64_t n = restart_after(
      [&](KvCache& c) {
        victim = entry_path(c, prompt, 2);
        std::filesystem::resize_file(victim, std::filesystem::file_size(victim) / 2);
      },
      &stats);
  EXPECT_EQ(n, 32);
  EXPECT_EQ(stats.disk.corrupt_removed, 1u);
  EXPECT_FALSE(std::filesystem::exists(victim));
}

TEST_F(KvTierCorruption, DamagedHeaderAndForeignFilesAreRemoved) {
  std::filesystem::path header_victim, foreign;
  KvTierStats stats;
  const int64_t n = restart_after(
      [&](KvCache& c) {
        header_victim = entry_path(c, prompt, 4);
        std::fstream f(header_victim, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(40);  // inside the parent hash: the header checksum catches it
        f.write("x", 1);
        f.close();
        // Something else with an entry's name, and an entry renamed to
        // another block's name (its header names a different hash).
        foreign = std::filesystem::path(c.disk_tier_directory()) / "0123456789abcdef0123456789abcdef-g0.kvb";
        std::ofstream(foreign) << "not a kiln KV block";
        std::filesystem::copy_file(entry_path(c, prompt, 0), entry_path(c, prompt, 5),
                                   std::filesystem::copy_options::overwrite_existing);
      },
      &stats);
  EXPECT_EQ(n, 64);  // blocks 0..3
  EXPECT_EQ(stats.disk.corrupt_removed, 3u);
  EXPECT_FALSE(std::filesystem::exists(header_victim));
  EXPECT_FALSE(std::filesystem::exists(foreign));
}

TEST_F(KvTierCorruption, EntriesOfAnotherLayoutAreNeverUsed) {
  compute_and_persist(config, dir.path(), prompt);
  CacheConfig other = config;  // same model identity, different block bytes
  other.groups[0].v_head_dim = 32;
  KvCache cache(other);
  cache.enable_disk_tier(disk_config(dir.path(), kBudget));
  EXPECT_EQ(cache.tier_stats().disk.corrupt_removed, 6u);
  EXPECT_EQ(cache.tier_stats().disk.blocks, 0u);
  EXPECT_EQ(cache.cached_prefix_length(prompt, 99), 0);
}

TEST(KvTierDisk, LeftoverTempFilesAreIgnoredAndCleaned) {
  TempDir dir;
  const CacheConfig config = small_config(KvType::F16, 16, 0, 64, 0);
  const std::vector<Token> prompt = token_range(40, 1);
  compute_and_persist(config, dir.path(), prompt);
  std::string model_dir;
  {
    KvCache cache(config);
    cache.enable_disk_tier(disk_config(dir.path(), kBudget));
    model_dir = cache.disk_tier_directory();
    // What a crash mid-write leaves: a half-written temporary file, here
    // under the name the next block's entry would have.
    const std::filesystem::path half = entry_path(cache, token_range(64, 1), 2).string() + ".tmp";
    std::ofstream(half, std::ios::binary) << std::string(300, 'k');
  }
  KvCache cache(config);
  cache.enable_disk_tier(disk_config(dir.path(), kBudget));
  const KvTierStats stats = cache.tier_stats();
  EXPECT_EQ(stats.disk.temp_removed, 1u);
  EXPECT_EQ(stats.disk.blocks, 2u);
  EXPECT_EQ(entry_files(model_dir).size(), 2u);
  for (const auto& e : std::filesystem::directory_iterator(model_dir))
    EXPECT_NE(e.path().extension(), ".tmp") << e.path();
  EXPECT_EQ(cache.cached_prefix_length(token_range(64, 1), 63), 32);
}

TEST(KvTierDisk, RestoreNeedsFreeBlocksAndShrinksToThem) {
  TempDir dir;
  const CacheConfig config = small_config(KvType::F16, 16, 0, 64, 0);
  const std::vector<Token> prompt = token_range(200, 1);  // 12 full blocks
  compute_and_persist(config, dir.path(), prompt);
  CacheConfig small = config;
  small.groups[0].num_blocks = 8;
  KvCache cache(small);
  cache.enable_disk_tier(disk_config(dir.path(), kBudget));
  const SeqId hog = cache.create_sequence();
  append_computed(cache, hog, token_range(50, 90000));  // holds 4 blocks
  const SeqId id = cache.create_sequence();
  EXPECT_EQ(cache.attach_prefix(id, prompt, 199), 64);  // only 4 blocks left to fill
  EXPECT_TRUE(holds_expected_kv(cache, id));
  cache.check_invariants();
}

TEST(KvTierDisk, BadConfigurationsAreRefused) {
  TempDir dir;
  KvCache cache(small_config(KvType::F16, 16, 0, 8, 0));
  EXPECT_THROW(cache.enable_disk_tier(disk_config(dir.path(), 0)), kiln::Error);
  EXPECT_THROW(cache.enable_disk_tier(disk_config("", kBudget)), kiln::Error);
  std::ofstream(dir.path() / "file") << "x";
  EXPECT_THROW(cache.enable_disk_tier(disk_config(dir.path() / "file", kBudget)), kiln::Error);
  cache.enable_disk_tier(disk_config(dir.path(), kBudget));
  EXPECT_THROW(cache.enable_disk_tier(disk_config(dir.path(), kBudget)), kiln::Error);
}

}  // namespace
}  // namespace kiln::kv
