// Microbenchmarks of the paged KV cache's hot paths (bookkeeping only: no K/V
// math). Storage size does not enter these paths, so the caches are small:
// two layers of 2 KV heads x 64 dims (Qwen2.5-0.5B's per-layer shape), f16.
//
//   bench_kv_cache --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <numeric>
#include <vector>

#include "kv/batch_metadata.h"
#include "kv/kv_cache.h"

namespace kiln::kv {
namespace {

CacheConfig bench_config(int block_size, int num_blocks, int window) {
  CacheConfig c;
  c.block_size = block_size;
  c.type = KvType::F16;
  c.max_sequences = 512;
  c.model_identity = "bench";
  LayerGroupConfig full;
  full.layers = {0, 1};
  full.n_kv_heads = 2;
  full.k_head_dim = full.v_head_dim = 64;
  full.num_blocks = num_blocks;
  c.groups.push_back(full);
  if (window > 0) {  // gemma3-like: a sliding-window group next to the global one
    LayerGroupConfig sliding = full;
    sliding.layers = {2, 3};
    sliding.window = window;
    c.groups.push_back(sliding);
  }
  return c;
}

std::vector<Token> tokens(int n, Token start) {
  std::vector<Token> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

// n_seqs sequences of ctx computed tokens each, distinct prompts.
std::vector<SeqId> fill(KvCache& cache, int n_seqs, int ctx, int reserve_to) {
  std::vector<SeqId> ids;
  for (int i = 0; i < n_seqs; ++i) {
    const SeqId id = cache.create_sequence();
    cache.reserve(id, reserve_to);
    cache.append(id, tokens(ctx, i * 100000));
    cache.mark_computed(id);
    ids.push_back(id);
  }
  return ids;
}

// Start of a forward step: attention metadata for a decode batch of 64
// sequences (block tables, slot mapping, positions) at a context length.
void BM_BuildMetadata64(benchmark::State& state) {
  const int ctx = int(state.range(0));
  KvCache cache(bench_config(32, 64 * (ctx / 32 + 2), 0));
  const std::vector<SeqId> ids = fill(cache, 64, ctx, ctx + 1);
  for (SeqId id : ids) cache.append(id, tokens(1, 7));
  std::vector<BatchEntry> batch;
  for (SeqId id : ids) batch.push_back({id, 1});
  BatchMetadata meta(cache, 64, 64, ctx / 32 + 2);
  for (auto _ : state) {
    meta.build(cache, batch);
    benchmark::DoNotOptimize(meta.group(0).block_table.data());
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_BuildMetadata64)->Arg(512)->Arg(2048)->Arg(8192);

// A whole decode step's cache work for 64 sequences: append one token each,
// build metadata, mark computed (hashing blocks that fill up). window > 0
// adds a sliding-window group that releases blocks as they leave the window.
void BM_DecodeStep64(benchmark::State& state) {
  const int window = int(state.range(0));
  const int ctx = 1024, steps_per_round = 256;
  KvCache cache(bench_config(32, 64 * ((ctx + steps_per_round) / 32 + 2), window));
  const std::vector<SeqId> ids = fill(cache, 64, ctx, ctx + steps_per_round + 1);
  std::vector<BatchEntry> batch;
  for (SeqId id : ids) batch.push_back({id, 1});
  BatchMetadata meta(cache, 64, 64, (ctx + steps_per_round) / 32 + 2);
  const Token next[1] = {42};
  int step = 0;
  for (auto _ : state) {
    for (SeqId id : ids) cache.append(id, next);
    meta.build(cache, batch);
    for (SeqId id : ids) cache.mark_computed(id);
    if (++step == steps_per_round) {  // back to ctx tokens, outside the timing
      state.PauseTiming();
      for (SeqId id : ids) cache.truncate(id, ctx);
      step = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_DecodeStep64)->Arg(0)->Arg(512);

// Append of one token (and mark computed) to each of many sequences.
void BM_AppendOneTokenToMany(benchmark::State& state) {
  const int n_seqs = int(state.range(0));
  const int ctx = 256, steps_per_round = 256;
  KvCache cache(bench_config(32, n_seqs * ((ctx + steps_per_round) / 32 + 2), 0));
  const std::vector<SeqId> ids = fill(cache, n_seqs, ctx, ctx + steps_per_round + 1);
  const Token next[1] = {42};
  int step = 0;
  for (auto _ : state) {
    for (SeqId id : ids) {
      cache.append(id, next);
      cache.mark_computed(id);
    }
    if (++step == steps_per_round) {
      state.PauseTiming();
      for (SeqId id : ids) cache.truncate(id, ctx);
      step = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * n_seqs);
}
BENCHMARK(BM_AppendOneTokenToMany)->Arg(64)->Arg(256);

// Block allocation and release: one block, and 64 blocks at a time.
void BM_AllocateRelease(benchmark::State& state) {
  const int n = int(state.range(0));
  KvCache cache(bench_config(32, 4096, 0));
  BlockPool& pool = cache.pool(0);
  std::vector<BlockId> blocks(static_cast<size_t>(n));
  for (auto _ : state) {
    for (BlockId& b : blocks) b = pool.allocate();
    for (BlockId b : blocks) pool.release(b);
    benchmark::DoNotOptimize(blocks.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_AllocateRelease)->Arg(1)->Arg(64);

// Allocation when the free list is empty: every block comes from evicting
// the oldest cached block (dropping its hash). Each iteration also registers
// the block under a new hash and releases it, so it becomes the newest cached
// block and the free list stays empty: the cycle of a block that is computed,
// cached, and later reclaimed.
void BM_AllocateByEviction(benchmark::State& state) {
  KvCache cache(bench_config(32, 4096, 0));
  const std::vector<SeqId> ids = fill(cache, 1, 4096 * 32, 0);
  cache.free_sequence(ids[0]);  // every block is now cached, none free
  BlockPool& pool = cache.pool(0);
  uint64_t n = 0;
  for (auto _ : state) {
    const BlockId b = pool.allocate();
    ++n;
    pool.register_hash(b, BlockHash{n * 0x9e3779b97f4a7c15ull, n});
    pool.release(b);
  }
  if (pool.free_count() != 0) state.SkipWithError("free list not empty: not measuring eviction");
  state.SetItemsProcessed(int64_t(state.iterations()));
}
BENCHMARK(BM_AllocateByEviction);

// Longest cached prefix of a 2048-token prompt that is fully cached (hashing
// 2048 / block_size blocks and probing the table), and attaching it.
void BM_PrefixLookup2k(benchmark::State& state) {
  const int bs = int(state.range(0));
  KvCache cache(bench_config(bs, 2 * 2048 / bs + 8, 0));
  const std::vector<Token> prompt = tokens(2048, 5);
  const SeqId owner = cache.create_sequence();
  cache.append(owner, prompt);
  cache.mark_computed(owner);
  cache.free_sequence(owner);
  for (auto _ : state) benchmark::DoNotOptimize(cache.cached_prefix_length(prompt, 2048));
  state.SetItemsProcessed(state.iterations() * 2048);
}
BENCHMARK(BM_PrefixLookup2k)->Arg(16)->Arg(32)->Arg(64);

void BM_AttachPrefix2kAndFree(benchmark::State& state) {
  KvCache cache(bench_config(32, 256, 0));
  const std::vector<Token> prompt = tokens(2048, 5);
  const SeqId owner = cache.create_sequence();
  cache.append(owner, prompt);
  cache.mark_computed(owner);
  cache.free_sequence(owner);
  for (auto _ : state) {
    const SeqId id = cache.create_sequence();
    benchmark::DoNotOptimize(cache.attach_prefix(id, prompt, 2047));
    cache.free_sequence(id);
  }
}
BENCHMARK(BM_AttachPrefix2kAndFree);

// Fork of a 2048-token sequence (share 64 blocks) and free of the fork.
void BM_Fork2kAndFree(benchmark::State& state) {
  KvCache cache(bench_config(32, 256, 0));
  const std::vector<SeqId> ids = fill(cache, 1, 2048, 2048);
  for (auto _ : state) {
    const SeqId f = cache.fork(ids[0]);
    cache.free_sequence(f);
  }
}
BENCHMARK(BM_Fork2kAndFree);

}  // namespace
}  // namespace kiln::kv

BENCHMARK_MAIN();
