// Cost of choosing one token (and of logprobs) over real vocabulary sizes:
// 151936 (Qwen2) and 262144 (Gemma 3). Rows of N(0, 2) logits; 200 tokens of
// history so the default penalties have 64 distinct tokens to apply.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "engine/sampling.h"
#include "engine/sampling_logprobs.h"

namespace {

using namespace kiln::engine;

const std::vector<std::vector<float>>& rows(int vocab) {
  static std::vector<std::vector<float>> cache[2];
  auto& r = cache[vocab == 151936 ? 0 : 1];
  if (r.empty()) {
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.f, 2.f);
    r.assign(4, std::vector<float>(vocab));
    for (auto& row : r)
      for (auto& x : row) x = dist(rng);
  }
  return r;
}

void run(benchmark::State& state, SamplingParams p) {
  const int vocab = static_cast<int>(state.range(0));
  const auto& r = rows(vocab);
  p.seed = 1;
  Sampler s(vocab, p);
  for (int i = 0; i < 200; ++i) s.accept(i * 7919 % vocab);
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(s.sample(r[i++ % r.size()]));
}

void Defaults(benchmark::State& state) { run(state, SamplingParams()); }
void DefaultsNoPenalties(benchmark::State& state) {
  SamplingParams p;
  p.repeat_penalty = 1.f;
  run(state, p);
}
void Greedy(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.f;
  run(state, p);
}
void WholeVocabMinP(benchmark::State& state) {
  SamplingParams p;
  p.top_k = 0;
  p.top_p = 1.f;
  p.min_p = 0.05f;
  run(state, p);
}
void WholeVocabTopP(benchmark::State& state) {
  SamplingParams p;
  p.top_k = 0;
  run(state, p);
}
void LogprobsTop20(benchmark::State& state) {
  const auto& r = rows(static_cast<int>(state.range(0)));
  Logprobs out;
  size_t i = 0;
  for (auto _ : state) {
    compute_logprobs(r[i % r.size()], 5, 20, out);
    ++i;
    benchmark::DoNotOptimize(out);
  }
}

#define VOCABS ->Arg(151936)->Arg(262144)->Unit(benchmark::kMicrosecond)
BENCHMARK(Defaults) VOCABS;
BENCHMARK(DefaultsNoPenalties) VOCABS;
BENCHMARK(Greedy) VOCABS;
BENCHMARK(WholeVocabMinP) VOCABS;
BENCHMARK(WholeVocabTopP) VOCABS;
BENCHMARK(LogprobsTop20) VOCABS;

}  // namespace

BENCHMARK_MAIN();
