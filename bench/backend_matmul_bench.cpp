// Speed of kiln::cpu::matmul on real model shapes, and the machine's memory
// read bandwidth (the decode roof).
//
//   bench_backend_matmul --benchmark_filter='matmul/' --benchmark_min_time=0.5
//   bench_backend_matmul --benchmark_filter=memory_read
//
// matmul/<type>/<isa>/K/N/T/threads
//   T = 1   (decode): bytes_per_second counts the weight bytes read.
//   T = 256 (prefill): FLOPS = 2*T*N*K per second.
// Shapes: Qwen2.5-0.5B (896x4864 ffn up/gate, 4864x896 ffn down, 896x896
// attention, 896x151936 output) and Llama-3-8B's ffn (4096x14336). Types
// whose block does not divide K (K-quants at K=896) are skipped, as in the
// real model files, which fall back to Q5_0/Q8_0 there.
// Weights are random bytes with sane scales: speed does not depend on values.
#include <benchmark/benchmark.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/matmul.h"
#include "core/fp16.h"

namespace {

using kiln::GgmlType;
using kiln::cpu::MatmulIsa;

kiln::runtime::ThreadPool& pool(int threads) {
  static std::map<int, std::unique_ptr<kiln::runtime::ThreadPool>> pools;
  auto& p = pools[threads];
  if (!p) p = std::make_unique<kiln::runtime::ThreadPool>(threads);
  return *p;
}

// Random weights of a shape, made once and shared by the benchmarks of it.
const std::vector<uint8_t>& weights(GgmlType t, int64_t N, int64_t K) {
  static std::map<std::tuple<int, int64_t, int64_t>, std::vector<uint8_t>> cache;
  auto& w = cache[{int(t), N, K}];
  if (!w.empty()) return w;
  const size_t rb = kiln::row_bytes(t, K), bb = kiln::traits(t).block_bytes;
  w.resize(rb * size_t(N));
  std::mt19937_64 rng(42);
  for (size_t i = 0; i + 8 <= w.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(&w[i], &v, 8);
  }
  const uint16_t d = kiln::fp32_to_fp16(0.01f);
  for (size_t b = 0; b < w.size() / bb; ++b) {
    uint8_t* blk = w.data() + b * bb;
    switch (t) {
      case GgmlType::Q4_K:
      case GgmlType::Q5_K:
        std::memcpy(blk, &d, 2);
        std::memcpy(blk + 2, &d, 2);
        break;
      case GgmlType::Q6_K: std::memcpy(blk + 208, &d, 2); break;
      default: std::memcpy(blk, &d, 2); break;
    }
  }
  return w;
}

void BM_Matmul(benchmark::State& state, GgmlType t, MatmulIsa isa) {
  const int64_t K = state.range(0), N = state.range(1), T = state.range(2);
  const int threads = int(state.range(3));
  if (isa > kiln::cpu::host_matmul_isa()) {
    state.SkipWithError("ISA not available on this CPU");
    return;
  }
  const auto& w = weights(t, N, K);
  std::vector<float> x(size_t(T * K)), y(size_t(T * N));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (auto& v : x) v = normal(rng);
  kiln::cpu::MatmulScratch scratch(isa);
  auto& p = pool(threads);
  const size_t rb = kiln::row_bytes(t, K);
  for (auto _ : state) {
    kiln::cpu::matmul(x.data(), T, K, size_t(K) * 4, w.data(), t, N, rb, y.data(), size_t(N) * 4, p, scratch);
    benchmark::DoNotOptimize(y.data());
  }
  if (T == 1)
    state.counters["bytes_per_second"] = benchmark::Counter(double(rb) * double(N), benchmark::Counter::kIsIterationInvariantRate);
  else
    state.counters["FLOPS"] = benchmark::Counter(2.0 * double(T * N * K), benchmark::Counter::kIsIterationInvariantRate);
}

// Streaming read of a buffer far larger than the caches, split over the pool.
void BM_MemoryRead(benchmark::State& state) {
  const int threads = int(state.range(0));
  const size_t bytes = size_t(1) << 30;
  static std::vector<uint8_t, std::allocator<uint8_t>> buf(bytes, 1);
  auto& p = pool(threads);
  for (auto _ : state) {
    p.run([&](int ith, int nth) {
      const size_t chunk = bytes / size_t(nth) / 256 * 256;
      const uint8_t* s = buf.data() + chunk * size_t(ith);
      // Plain 64-bit adds with four accumulators: the compiler vectorizes this for the host ISA
      // (-march=native), so the loop is bound by memory, not by a particular instruction set.
      const uint64_t* w = reinterpret_cast<const uint64_t*>(s);
      const size_t words = chunk / 8;
      uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (size_t i = 0; i < words; i += 4) {
        a0 += w[i];
        a1 += w[i + 1];
        a2 += w[i + 2];
        a3 += w[i + 3];
      }
      benchmark::DoNotOptimize(a0 + a1 + a2 + a3);
    });
  }
  state.counters["bytes_per_second"] = benchmark::Counter(double(bytes), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_MemoryRead)->Name("memory_read")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

const int64_t kShapes[][2] = {{896, 4864}, {4864, 896}, {896, 896}, {896, 151936}, {4096, 14336}};

int register_all() {
  const std::pair<GgmlType, const char*> types[] = {
      {GgmlType::Q4_K, "q4_K"}, {GgmlType::Q5_K, "q5_K"}, {GgmlType::Q5_0, "q5_0"}, {GgmlType::Q6_K, "q6_K"},
      {GgmlType::Q8_0, "q8_0"}};
  for (auto [t, tname] : types)
    for (MatmulIsa isa : {MatmulIsa::scalar, MatmulIsa::avx2, MatmulIsa::avx512}) {
      auto* b = benchmark::RegisterBenchmark(
          ("matmul/" + std::string(tname) + "/" + std::string(kiln::cpu::matmul_isa_name(isa))).c_str(),
          [t, isa](benchmark::State& s) { BM_Matmul(s, t, isa); });
      b->ArgNames({"K", "N", "T", "threads"})->Unit(benchmark::kMicrosecond)->UseRealTime();
      for (const auto& sh : kShapes) {
        if (sh[0] % kiln::traits(t).block_size != 0) continue;
        for (int64_t T : {1, 256})
          for (int64_t th : {1, 2}) b->Args({sh[0], sh[1], T, th});
      }
    }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
