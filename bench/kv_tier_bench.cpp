// Costs of the KV disk tier with Qwen2.5-0.5B's block shape (24 layers, 2 KV
// heads, head dim 64, f16, 32 tokens: 384 KiB per block):
//   BM_WriteEntry/fsync     write one entry (temp file, [fdatasync], rename)
//   BM_ReadEntry            verified read of one entry (page cache warm)
//   BM_RestorePrefix/N      attach an N-token prefix from disk into a fresh
//                           cache (what a restarted server does first)
#include <benchmark/benchmark.h>
#include <xxhash.h>

#include <filesystem>
#include <numeric>
#include <random>

#include "kv/kv_cache.h"
#include "kv/tier_disk_format.h"

namespace {

using namespace kiln::kv;

CacheConfig qwen_like(int blocks) {
  CacheConfig c;
  c.block_size = 32;
  c.type = KvType::F16;
  c.max_sequences = 4;
  c.model_identity = "bench-qwen-0.5b";
  LayerGroupConfig g;
  for (int l = 0; l < 24; ++l) g.layers.push_back(l);
  g.n_kv_heads = 2;
  g.k_head_dim = g.v_head_dim = 64;
  g.num_blocks = blocks;
  c.groups.push_back(g);
  return c;
}

std::filesystem::path bench_dir(const char* name) {
  const auto p = std::filesystem::temp_directory_path() / ("kiln-kv-tier-bench-" + std::string(name));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

void BM_WriteEntry(benchmark::State& state) {
  const bool fsync = state.range(0) != 0;
  const CacheConfig config = qwen_like(1);
  const size_t bytes = make_layout(config, config.groups[0]).block_bytes;
  std::vector<uint8_t> payload(bytes, 7);
  const auto dir = bench_dir("write");
  tier::EntryHeader h;
  h.layout_fingerprint = tier::layout_fingerprint(config, 0);
  h.payload_bytes = bytes;
  uint64_t i = 0;
  for (auto _ : state) {
    h.key.hash = BlockHash{++i, 42};
    tier::write_entry(dir, h, payload, fsync);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_WriteEntry)->ArgName("fsync")->Arg(0)->Arg(1)->UseRealTime();

void BM_ReadEntry(benchmark::State& state) {
  const CacheConfig config = qwen_like(1);
  const size_t bytes = make_layout(config, config.groups[0]).block_bytes;
  std::vector<uint8_t> payload(bytes, 7), dst(bytes);
  const auto dir = bench_dir("read");
  tier::EntryHeader h;
  h.key.hash = BlockHash{1, 2};
  h.layout_fingerprint = tier::layout_fingerprint(config, 0);
  h.payload_bytes = bytes;
  h.payload_checksum = XXH3_64bits(payload.data(), bytes);
  tier::write_entry(dir, h, payload, false);
  const auto file = dir / tier::entry_file_name(h.key);
  for (auto _ : state) {
    if (tier::read_entry(file, h.key, h.layout_fingerprint, dst) != tier::ReadStatus::Ok) state.SkipWithError("read");
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ReadEntry)->UseRealTime();

void BM_RestorePrefix(benchmark::State& state) {
  const int tokens = int(state.range(0));
  const int blocks = tokens / 32 + 8;
  const CacheConfig config = qwen_like(blocks);
  const auto dir = bench_dir("restore");
  DiskTierConfig tc;
  tc.directory = dir.string();
  tc.budget_bytes = uint64_t(16) << 30;
  tc.fsync = false;
  // The whole prompt is "computed" in one step here; the engine's prefill
  // hands the writer one chunk (16 blocks) at a time.
  tc.write_queue_bytes = uint64_t(1) << 30;
  std::vector<Token> prompt(size_t(tokens) + 1);
  std::iota(prompt.begin(), prompt.end(), 1);
  {
    KvCache cache(config);
    cache.enable_disk_tier(tc);
    const SeqId id = cache.create_sequence();
    cache.append(id, prompt);
    cache.mark_computed(id);  // contents do not matter here
    cache.flush_disk_tier();
  }
  for (auto _ : state) {
    KvCache cache(config);  // a restart: empty RAM, index from the directory
    cache.enable_disk_tier(tc);
    const SeqId id = cache.create_sequence();
    const int64_t n = cache.attach_prefix(id, prompt, tokens);
    if (n != tokens) state.SkipWithError("prefix not restored");
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(tokens / 32) *
                          int64_t(make_layout(config, config.groups[0]).block_bytes));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_RestorePrefix)->Arg(4096)->Arg(24992)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
