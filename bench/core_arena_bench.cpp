// A decode step's buffers from the arena versus from malloc/free.
//
//   bench_core_arena --benchmark_min_time=0.2
//
// The 8 sizes are a Qwen2.5-0.5B step at batch 1 (hidden 896, FFN 4864,
// vocabulary 151936, f32 activations).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <iterator>

#include "core/arena.h"

namespace {

using namespace kiln;

constexpr size_t kStepBuffers[] = {896 * 4, 896 * 4, 896 * 4, 4864 * 4, 4864 * 4, 896 * 4, 151936 * 4, 64};

void BM_ArenaStep(benchmark::State& state) {
  runtime::Arena arena(4 << 20, "bench");
  for (auto _ : state) {
    runtime::ArenaScope step(arena);
    for (size_t bytes : kStepBuffers) benchmark::DoNotOptimize(arena.allocate(bytes));
  }
}
BENCHMARK(BM_ArenaStep)->Name("arena_step");

void BM_MallocStep(benchmark::State& state) {
  void* ptrs[std::size(kStepBuffers)];
  for (auto _ : state) {
    for (size_t i = 0; i < std::size(kStepBuffers); ++i) {
      ptrs[i] = std::aligned_alloc(64, (kStepBuffers[i] + 63) / 64 * 64);
      benchmark::DoNotOptimize(ptrs[i]);
    }
    for (void* p : ptrs) std::free(p);
  }
}
BENCHMARK(BM_MallocStep)->Name("malloc_step");

}  // namespace

BENCHMARK_MAIN();
