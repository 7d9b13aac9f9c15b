// Cost of handing work to the thread pool and waiting for it: what a decode
// step pays per parallel op on top of the op itself.
//
//   bench_core_threadpool --benchmark_min_time=0.2
//
// run/N        one dispatch of an empty job to N participants and the wait for
//              all of them (the caller is one of the N)
// barrier/N    one barrier among N participants inside a running job
// parallel_for one dispatch handing out 64 empty tasks
// spawn_join/N the naive alternative: start N-1 std::threads and join them
#include <benchmark/benchmark.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "core/threadpool.h"

namespace {

using kiln::runtime::ThreadPool;

bool enough_cpus(benchmark::State& state, int threads) {
  if (threads > int(std::thread::hardware_concurrency())) {
    state.SkipWithError("more threads than CPUs");
    return false;
  }
  return true;
}

void BM_Run(benchmark::State& state) {
  const int threads = int(state.range(0));
  if (!enough_cpus(state, threads)) return;
  ThreadPool pool(threads);
  std::atomic<int> sink{0};
  for (auto _ : state) {
    pool.run([&](int ith, int) {
      if (ith == 0) sink.fetch_add(1, std::memory_order_relaxed);
    });
  }
  benchmark::DoNotOptimize(sink.load());
}
BENCHMARK(BM_Run)->Name("run")->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(16)->UseRealTime();

void BM_Barrier(benchmark::State& state) {
  const int threads = int(state.range(0));
  if (!enough_cpus(state, threads)) return;
  ThreadPool pool(threads);
  constexpr int kBarriers = 1000;
  for (auto _ : state) {
    pool.run([&](int, int) {
      for (int i = 0; i < kBarriers; ++i) pool.barrier();
    });
  }
  // Time per barrier = real time / kBarriers; items/s = barriers per second.
  state.SetItemsProcessed(state.iterations() * kBarriers);
  state.counters["ns_per_barrier"] = benchmark::Counter(
      double(state.iterations()) * kBarriers, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Barrier)->Name("barrier")->Arg(2)->Arg(4)->Arg(8)->Arg(16)->UseRealTime();

void BM_ParallelFor(benchmark::State& state) {
  const int threads = int(state.range(0));
  if (!enough_cpus(state, threads)) return;
  ThreadPool pool(threads);
  std::vector<int> out(64);
  for (auto _ : state) {
    pool.parallel_for(64, [&](int64_t task, int thread) { out[size_t(task)] = thread; });
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_ParallelFor)->Name("parallel_for_64")->Arg(2)->Arg(4)->Arg(8)->Arg(16)->UseRealTime();

void BM_SpawnJoin(benchmark::State& state) {
  const int threads = int(state.range(0));
  if (!enough_cpus(state, threads)) return;
  std::atomic<int> sink{0};
  for (auto _ : state) {
    std::vector<std::thread> ts;
    for (int i = 1; i < threads; ++i) ts.emplace_back([&] { sink.fetch_add(1, std::memory_order_relaxed); });
    sink.fetch_add(1, std::memory_order_relaxed);
    for (auto& t : ts) t.join();
  }
}
BENCHMARK(BM_SpawnJoin)->Name("spawn_join")->Arg(2)->Arg(4)->Arg(16)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
