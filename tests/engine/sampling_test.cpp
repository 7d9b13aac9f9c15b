// The Sampler: greedy decoding, penalties over a known history, the one-pass
// top_k against penalizing the whole vocabulary, determinism per seed, shared
// workspaces and errors.
#include "engine/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "core/error.h"

namespace kiln::engine {
namespace {

constexpr float kInf = INFINITY;

std::vector<float> random_logits(size_t n, uint32_t seed, float scale = 2.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Only the penalties act: every finite token stays, logits unchanged by
// temperature 1, so last_candidates() shows the penalized logits.
SamplingParams penalties_only(float repeat, float freq, float presence, int last_n) {
  SamplingParams p;
  p.temperature = 1.f;
  p.top_k = 0;
  p.top_p = 1.f;
  p.repeat_penalty = repeat;
  p.frequency_penalty = freq;
  p.presence_penalty = presence;
  p.repeat_last_n = last_n;
  p.seed = 1;
  return p;
}

std::map<int32_t, float> final_logits(Sampler& s) {
  std::map<int32_t, float> out;
  for (const auto& c : s.workspace().last_candidates()) out[c.id] = c.logit;
  return out;
}

TEST(Sampler, GreedyIsTheArgmaxWithTiesToTheLowestId) {
  SamplingParams p;
  p.temperature = 0.f;
  p.repeat_penalty = 1.f;
  Sampler s(6, p);
  const std::vector<float> logits = {0.f, 2.f, -1.f, 2.f, 1.f, 2.f};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(s.sample(logits), 1);
  ASSERT_EQ(s.workspace().last_candidates().size(), 1u);
  EXPECT_EQ(s.workspace().last_candidates()[0].p, 1.f);
}

TEST(Sampler, GreedySeesThePenalties) {
  SamplingParams p;
  p.temperature = 0.f;
  p.repeat_penalty = 1.1f;
  Sampler s(4, p);
  const std::vector<float> logits = {5.f, 4.8f, 1.f, 0.f};
  EXPECT_EQ(s.choose(logits), 0);
  s.accept(0);  // 5 / 1.1 = 4.55 < 4.8
  EXPECT_EQ(s.choose(logits), 1);
}

TEST(Sampler, GreedyWithTypicalPRunsTheChain) {
  // Typical sampling may drop the argmax; greedy then picks within its set.
  std::vector<float> logits(50, 0.f);
  logits[7] = 3.f;
  SamplingParams p;
  p.temperature = 0.f;
  p.typical_p = 0.3f;
  p.repeat_penalty = 1.f;
  Sampler s(50, p);
  EXPECT_NE(s.choose(logits), 7);
  p.typical_p = 1.f;
  EXPECT_EQ(Sampler(50, p).choose(logits), 7);
}

TEST(Sampler, PenaltiesFollowLlamaCppOnAKnownHistory) {
  const float repeat = 1.25f, freq = 0.5f, presence = 0.3f;
  Sampler s(10, penalties_only(repeat, freq, presence, 3));
  const std::vector<float> logits = {1, 2, 3, -1, -2, 0, 4, 5, 0.5f, -0.5f};
  for (int32_t t : {7, 7, 7, 2, 9, 7}) s.accept(t);  // window of 3: {2, 9, 7}
  s.choose(logits);
  const auto got = final_logits(s);
  ASSERT_EQ(got.size(), 10u);
  auto penalized = [&](float l, int count) {
    l = l <= 0 ? l * repeat : l / repeat;
    return l - count * freq - presence;
  };
  for (int32_t id = 0; id < 10; ++id) {
    const int count = (id == 2 || id == 9 || id == 7) ? 1 : 0;
    const float expect = count ? penalized(logits[id], count) : logits[id];
    EXPECT_FLOAT_EQ(got.at(id), expect) << id;
  }
}

TEST(Sampler, FrequencyPenaltyScalesWithTheCount) {
  Sampler s(4, penalties_only(1.f, 0.5f, 0.f, 64));
  for (int32_t t : {1, 1, 1, 2}) s.accept(t);
  s.choose(std::vector<float>{0.f, 0.f, 0.f, 0.f});
  const auto got = final_logits(s);
  EXPECT_FLOAT_EQ(got.at(0), 0.f);
  EXPECT_FLOAT_EQ(got.at(1), -1.5f);
  EXPECT_FLOAT_EQ(got.at(2), -0.5f);
}

TEST(Sampler, NeutralOrDisabledPenaltiesChangeNothing) {
  const auto logits = random_logits(20, 3);
  for (const auto& p : {penalties_only(1.f, 0.f, 0.f, 64), penalties_only(2.f, 1.f, 1.f, 0)}) {
    Sampler s(20, p);
    for (int32_t t = 0; t < 20; ++t) s.accept(t);
    s.choose(logits);
    const auto got = final_logits(s);
    for (int32_t id = 0; id < 20; ++id) EXPECT_EQ(got.at(id), logits[id]);
  }
}

// The one-pass top_k (best k + |history| raw logits, then re-scored) must
// equal penalizing every logit first and sorting, for any history.
TEST(Sampler, OnePassTopKEqualsPenalizingEverything) {
  const int32_t vocab = 6000;
  for (uint32_t trial = 0; trial < 12; ++trial) {
    auto logits = random_logits(vocab, 100 + trial);
    logits[17] = -kInf;
    logits[18] = NAN;
    SamplingParams p = penalties_only(1.0f + 0.3f * (trial % 3), 0.1f * (trial % 4), trial % 2 ? -2.f : 0.7f, 48);
    p.top_k = 40;
    Sampler s(vocab, p);
    // History: mostly tokens near the top, some from the tail, and the
    // non-finite ones.
    std::vector<int32_t> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
    std::mt19937 rng(trial);
    std::vector<int32_t> history;
    for (int i = 0; i < 60; ++i) {
      const int r = static_cast<int>(rng() % 10);
      history.push_back(r < 6 ? order[rng() % 60] : r < 9 ? static_cast<int32_t>(rng() % vocab) : 17 + (i % 2));
    }
    for (int32_t t : history) s.accept(t);
    s.choose(logits);
    // Reference: counts over the last 48, penalize all, stable sort.
    std::map<int32_t, int> counts;
    for (size_t i = history.size() - 48; i < history.size(); ++i) ++counts[history[i]];
    std::vector<float> pen(logits);
    for (auto [id, n] : counts) {
      float l = pen[id];
      l = l <= 0 ? l * p.repeat_penalty : l / p.repeat_penalty;
      pen[id] = l - n * p.frequency_penalty - p.presence_penalty;
    }
    std::vector<int32_t> ref(vocab);
    std::iota(ref.begin(), ref.end(), 0);
    std::erase_if(ref, [&](int32_t id) { return !(pen[id] > -kInf); });
    std::stable_sort(ref.begin(), ref.end(), [&](int a, int b) { return pen[a] > pen[b]; });
    const auto got = s.workspace().last_candidates();
    ASSERT_EQ(got.size(), 40u);
    for (size_t i = 0; i < 40; ++i) {
      ASSERT_EQ(got[i].id, ref[i]) << "trial " << trial << " rank " << i;
      ASSERT_FLOAT_EQ(got[i].logit, pen[ref[i]]);
    }
  }
}

TEST(Sampler, TheSameSeedGivesTheSameTokens) {
  const int32_t vocab = 500;
  SamplingParams p;
  p.seed = 1234;
  p.top_k = 0;
  p.top_p = 0.95f;
  auto run = [&](Sampler& s) {
    std::vector<int32_t> out;
    for (uint32_t step = 0; step < 200; ++step) out.push_back(s.sample(random_logits(vocab, step, 1.f)));
    return out;
  };
  Sampler a(vocab, p), b(vocab, p);
  const auto ta = run(a);
  EXPECT_EQ(ta, run(b));
  a.reset();
  EXPECT_EQ(ta, run(a));  // reset() restarts history and PRNG
  p.seed = 1235;
  Sampler c(vocab, p);
  EXPECT_NE(ta, run(c));
  EXPECT_GT(std::set<int32_t>(ta.begin(), ta.end()).size(), 20u);  // it does sample
}

TEST(Sampler, SeedMinusOneIsRandom) {
  SamplingParams p;
  p.seed = -1;
  Sampler a(10, p), b(10, p);
  EXPECT_NE(a.seed(), b.seed());
  p.seed = 77;
  EXPECT_EQ(Sampler(10, p).seed(), 77u);
}

TEST(Sampler, ASharedWorkspaceGivesTheSameTokens) {
  const int32_t vocab = 3000;
  SamplingParams p;
  p.seed = 5;
  SamplingWorkspace ws(vocab);
  Sampler a(vocab, p, &ws), b(vocab, p, &ws), alone(vocab, p);
  for (uint32_t step = 0; step < 50; ++step) {
    const auto logits = random_logits(vocab, step);
    const int32_t ta = a.sample(logits);
    EXPECT_EQ(b.sample(logits), ta);
    EXPECT_EQ(alone.sample(logits), ta);
  }
  Sampler moved = std::move(alone);
  EXPECT_EQ(moved.sample(random_logits(vocab, 99)), a.sample(random_logits(vocab, 99)));
}

TEST(Sampler, Errors) {
  SamplingParams p;
  EXPECT_THROW(Sampler(0, p), Error);
  Sampler s(4, p);
  EXPECT_THROW(s.choose(std::vector<float>(5, 0.f)), Error);
  EXPECT_THROW(s.choose(std::vector<float>(4, -kInf)), Error);
  EXPECT_THROW(s.choose(std::vector<float>(4, NAN)), Error);
  EXPECT_THROW(s.accept(4), Error);
  EXPECT_THROW(s.accept(-1), Error);
  p.temperature = 0.f;
  EXPECT_THROW(Sampler(4, p).choose(std::vector<float>(4, -kInf)), Error);
  SamplingParams bad;
  bad.top_p = 1.5f;
  EXPECT_THROW(Sampler(4, bad), Error);
  bad = SamplingParams();
  bad.repeat_last_n = -1;  // must be resolved to num_ctx first
  EXPECT_THROW(Sampler(4, bad), Error);
  bad = SamplingParams();
  bad.repeat_penalty = 0.f;
  EXPECT_THROW(Sampler(4, bad), Error);
  SamplingWorkspace ws(5);
  EXPECT_THROW(Sampler(4, SamplingParams(), &ws), Error);
}

TEST(Sampler, OnlyFiniteTokensAreEverChosen) {
  std::vector<float> logits(100, -kInf);
  logits[42] = -1000.f;
  logits[43] = NAN;
  SamplingParams p;
  p.top_k = 0;
  p.top_p = 1.f;
  p.seed = 3;
  Sampler s(100, p);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(s.sample(logits), 42);
}

TEST(Sampler, TopKOfOneIsGreedy) {
  SamplingParams p;
  p.top_k = 1;
  p.temperature = 2.f;
  p.repeat_penalty = 1.f;
  p.seed = 9;
  const auto logits = random_logits(1000, 4);
  const int32_t best = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  Sampler s(1000, p);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(s.sample(logits), best);
}

}  // namespace
}  // namespace kiln::engine
