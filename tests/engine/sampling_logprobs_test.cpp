// logprobs / top_logprobs: log_softmax of the raw logits (Ollama and OpenAI
// report the model's distribution, not the sampler's).
#include "engine/sampling_logprobs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "core/error.h"
#include "engine/sampling.h"

namespace kiln::engine {
namespace {

std::vector<float> random_logits(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 3.f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(Logprobs, AreTheLogSoftmaxOfTheRawLogits) {
  const auto logits = random_logits(151936, 1);  // a Qwen2-sized row
  double m = *std::max_element(logits.begin(), logits.end()), z = 0;
  for (float x : logits) z += std::exp(double(x) - m);
  auto ref = [&](int32_t id) { return double(logits[id]) - m - std::log(z); };
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + 20, order.end(),
                    [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  Logprobs out;
  compute_logprobs(logits, 12345, 20, out);
  EXPECT_EQ(out.chosen.token, 12345);
  EXPECT_NEAR(out.chosen.logprob, ref(12345), 1e-4);
  ASSERT_EQ(out.top().size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(out.top()[i].token, order[i]);
    EXPECT_NEAR(out.top()[i].logprob, ref(order[i]), 1e-4);
  }
  // Probabilities of every token sum to one.
  double total = 0;
  for (int32_t id = 0; id < static_cast<int32_t>(logits.size()); id += 1) {
    Logprobs one;
    if (id % 1000 == 0) {
      compute_logprobs(logits, id, 0, one);
      EXPECT_NEAR(one.chosen.logprob, ref(id), 1e-4);
    }
    total += std::exp(ref(id));
  }
  EXPECT_NEAR(total, 1.0, 1e-9);
}

TEST(Logprobs, DoNotDependOnTheSamplingOptions) {
  // The same row sampled greedily or hot gives the same reported logprobs.
  const auto logits = random_logits(1000, 2);
  SamplingParams greedy;
  greedy.temperature = 0.f;
  SamplingParams hot;
  hot.temperature = 1.5f;
  hot.seed = 3;
  Sampler a(1000, greedy), b(1000, hot);
  const int32_t t = a.choose(logits);
  Logprobs la, lb;
  compute_logprobs(logits, t, 5, la);
  b.accept(t);  // history and temperature change the sampler, not the model
  b.choose(logits);
  compute_logprobs(logits, t, 5, lb);
  EXPECT_EQ(la.chosen.logprob, lb.chosen.logprob);
  EXPECT_EQ(la.top()[0].token, t);  // greedy took the most likely token
  EXPECT_FLOAT_EQ(la.top()[0].logprob, la.chosen.logprob);
}

TEST(Logprobs, TopNLargerThanTheVocabularyAndZero) {
  const std::vector<float> logits = {0.f, 1.f, -INFINITY};
  Logprobs out;
  compute_logprobs(logits, 0, 20, out);
  ASSERT_EQ(out.top().size(), 2u);  // a -inf token is not an alternative
  EXPECT_EQ(out.top()[0].token, 1);
  EXPECT_NEAR(out.chosen.logprob, -std::log1p(std::exp(1.0)), 1e-6);
  compute_logprobs(logits, 2, 0, out);
  EXPECT_TRUE(out.top().empty());
  EXPECT_EQ(out.chosen.logprob, -INFINITY);
}

TEST(Logprobs, Errors) {
  const std::vector<float> logits = {0.f, 1.f};
  Logprobs out;
  EXPECT_THROW(compute_logprobs(logits, 0, 21, out), Error);
  EXPECT_THROW(compute_logprobs(logits, 0, -1, out), Error);
  EXPECT_THROW(compute_logprobs(logits, 2, 1, out), Error);
  EXPECT_THROW(compute_logprobs({}, 0, 1, out), Error);
  EXPECT_NO_THROW(check_top_logprobs(20));
  EXPECT_THROW(check_top_logprobs(21), Error);
}

}  // namespace
}  // namespace kiln::engine
