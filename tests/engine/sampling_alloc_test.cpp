// Steady-state sampling allocates nothing: sampler, logprobs and stop
// matching, counted with core's allocation probe.
//
// This file installs the probe (the counting operator new/delete) for the
// whole test_engine executable; other engine tests use AllocCounter without
// including core/alloc_probe.h again (a second copy would not link).
#include "core/alloc_probe.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "core/alloc_counter.h"
#include "engine/sampling.h"
#include "engine/sampling_logprobs.h"
#include "engine/stop.h"

namespace kiln::engine {
namespace {

std::vector<std::vector<float>> rows(size_t vocab, size_t n) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.f, 2.f);
  std::vector<std::vector<float>> out(n, std::vector<float>(vocab));
  for (auto& r : out)
    for (auto& x : r) x = dist(rng);
  return out;
}

TEST(SamplingAllocations, NoneAfterConstruction) {
  const int32_t vocab = 32000;
  const auto logits = rows(vocab, 8);
  SamplingParams defaults;  // top_k 40, top_p 0.9, penalties over 64 tokens
  defaults.seed = 1;
  SamplingParams full = defaults;  // whole vocabulary: typical, top_p, min_p
  full.top_k = 0;
  full.typical_p = 0.9f;
  full.min_p = 0.01f;
  full.frequency_penalty = 0.2f;
  SamplingParams greedy = defaults;
  greedy.temperature = 0.f;
  for (const SamplingParams& p : {defaults, full, greedy}) {
    Sampler s(vocab, p);
    for (int i = 0; i < 100; ++i) s.accept(i * 37 % vocab);  // a prompt in the history
    runtime::AllocCounter counter;
    for (int step = 0; step < 64; ++step) s.sample(logits[step % logits.size()]);
    EXPECT_EQ(counter.allocations(), 0u) << "temperature " << p.temperature << " top_k " << p.top_k;
  }
}

TEST(SamplingAllocations, NoneForLogprobs) {
  const auto logits = rows(5000, 2);
  Logprobs out;
  runtime::AllocCounter counter;
  for (int i = 0; i < 20; ++i) compute_logprobs(logits[i % 2], i, 20, out);
  EXPECT_EQ(counter.allocations(), 0u);
}

TEST(SamplingAllocations, NoneForStopMatchingOfShortPieces) {
  StopMatcher m({"</s>", "<|im_end|>", "\n\nUser:"});
  const char* pieces[] = {"Hello", " wor", "ld", "<", "/", "x", "\n", "\nUs", "ed", " é", "<|im", "_st"};
  runtime::AllocCounter counter;
  for (int round = 0; round < 50; ++round)
    for (const char* p : pieces) EXPECT_FALSE(m.feed(p).stopped);
  EXPECT_EQ(counter.allocations(), 0u);
}

}  // namespace
}  // namespace kiln::engine
