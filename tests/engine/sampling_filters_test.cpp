// Each step of the sampler chain on its own: edge cases (k beyond the list,
// p = 1, p = 0, all-equal logits, -inf and NaN logits) and agreement with a
// naive full-sort reading of llama.cpp's rules on random inputs.
#include "engine/sampling_filters.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace kiln::engine {
namespace {

constexpr float kInf = INFINITY;

std::vector<Candidate> make(const std::vector<float>& logits) {
  std::vector<Candidate> c;
  for (size_t i = 0; i < logits.size(); ++i) c.push_back({static_cast<int32_t>(i), logits[i], 0.f, 0.f});
  return c;
}

std::vector<int32_t> ids(const CandidateList& c) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < c.size; ++i) out.push_back(c.data[i].id);
  return out;
}

std::vector<float> random_logits(size_t n, uint32_t seed, float scale = 2.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Ids sorted by (logit desc, id asc): the order every kiln step uses.
std::vector<int32_t> naive_order(const std::vector<float>& logits) {
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  return order;
}

TEST(SelectTop, MatchesAFullSortAtOddSizes) {
  for (size_t n : {1u, 7u, 63u, 64u, 65u, 200u, 1001u, 5000u}) {
    const auto logits = random_logits(n, static_cast<uint32_t>(n));
    const auto order = naive_order(logits);
    for (size_t k : {1u, 5u, 40u, 104u}) {
      std::vector<Candidate> out(k);
      const size_t got = select_top(logits, k, out.data());
      ASSERT_EQ(got, std::min(k, n));
      for (size_t i = 0; i < got; ++i) {
        EXPECT_EQ(out[i].id, order[i]) << "n=" << n << " k=" << k << " i=" << i;
        EXPECT_EQ(out[i].logit, logits[order[i]]);
      }
    }
  }
}

TEST(SelectTop, KLargerThanTheVocabularyKeepsEveryFiniteToken) {
  const std::vector<float> logits = {1.f, -kInf, 3.f, NAN, 2.f};
  std::vector<Candidate> out(10);
  const size_t got = select_top(logits, 10, out.data());
  ASSERT_EQ(got, 3u);  // -inf and NaN can never be drawn: they are not candidates
  EXPECT_EQ(out[0].id, 2);
  EXPECT_EQ(out[1].id, 4);
  EXPECT_EQ(out[2].id, 0);
}

TEST(SelectTop, TiesGoToTheLowerId) {
  std::vector<float> logits(300, 1.f);
  logits[250] = 2.f;
  std::vector<Candidate> out(4);
  ASSERT_EQ(select_top(logits, 4, out.data()), 4u);
  EXPECT_EQ(out[0].id, 250);
  EXPECT_EQ(out[1].id, 0);
  EXPECT_EQ(out[2].id, 1);
  EXPECT_EQ(out[3].id, 2);
}

TEST(SelectTop, AllNegativeInfinityGivesNothing) {
  std::vector<float> logits(100, -kInf);
  std::vector<Candidate> out(5);
  EXPECT_EQ(select_top(logits, 5, out.data()), 0u);
}

TEST(Softmax, AllEqualLogitsAreUniform) {
  auto buf = make({3.f, 3.f, 3.f, 3.f});
  CandidateList c{buf.data(), buf.size(), false};
  softmax(c);
  for (const auto& x : buf) EXPECT_FLOAT_EQ(x.p, 0.25f);
}

TEST(Softmax, InfiniteLogitTakesEverything) {
  auto buf = make({1.f, kInf, 2.f, kInf});
  CandidateList c{buf.data(), buf.size(), false};
  softmax(c);
  EXPECT_EQ(buf[0].p, 0.f);
  EXPECT_EQ(buf[1].p, 0.5f);
  EXPECT_EQ(buf[3].p, 0.5f);
}

TEST(TopK, EdgeCases) {
  auto buf = make({0.f, 5.f, 1.f});
  CandidateList c{buf.data(), buf.size(), false};
  top_k(c, 0);  // disabled
  EXPECT_EQ(c.size, 3u);
  EXPECT_FALSE(c.sorted);
  top_k(c, 10);  // larger than the list: keeps all, sorted
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1, 2, 0}));
  top_k(c, 1);
  EXPECT_EQ(ids(c), std::vector<int32_t>{1});
}

// llama.cpp's top-p: the shortest sorted prefix whose probability reaches p.
size_t naive_top_p_size(const std::vector<float>& logits, float p) {
  const auto order = naive_order(logits);
  double z = 0;
  for (float x : logits) z += std::exp(double(x) - logits[order[0]]);
  double cum = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    cum += std::exp(double(logits[order[i]]) - logits[order[0]]) / z;
    if (cum >= p) return i + 1;
  }
  return order.size();
}

TEST(TopP, MatchesTheDefinitionOnLargeUnsortedLists) {
  // 3000 flat-ish logits: p = 0.95 needs far more than the first 256 sorted
  // candidates, so the sorted prefix must grow.
  for (float p : {0.1f, 0.5f, 0.95f, 0.999f}) {
    const auto logits = random_logits(3000, 7, 0.5f);
    auto buf = make(logits);
    CandidateList c{buf.data(), buf.size(), false};
    top_p(c, p);
    const size_t expect = naive_top_p_size(logits, p);
    // float accumulation (as llama.cpp) may move the cut by one at the edge
    EXPECT_NEAR(double(c.size), double(expect), 1.0) << "p=" << p;
    const auto order = naive_order(logits);
    EXPECT_TRUE(c.sorted);
    for (size_t i = 0; i < c.size; ++i) ASSERT_EQ(c.data[i].id, order[i]);
  }
}

TEST(TopP, OneIsANoOpAndZeroKeepsTheBest) {
  auto buf = make({0.f, 2.f, 1.f});
  CandidateList c{buf.data(), buf.size(), false};
  top_p(c, 1.f);
  EXPECT_EQ(c.size, 3u);
  top_p(c, 0.f);
  EXPECT_EQ(ids(c), std::vector<int32_t>{1});
}

TEST(MinP, KeepsTokensAboveAFractionOfTheBest) {
  // p_i >= 0.5 p_max  <=>  logit_i >= max + log 0.5
  const float l = std::log(0.5f);
  auto buf = make({0.f, l + 1e-4f, l - 1e-4f, -5.f, 0.f});
  CandidateList c{buf.data(), buf.size(), false};
  min_p(c, 0.5f);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1, 4}));  // order kept when unsorted
  min_p(c, 0.f);  // disabled
  EXPECT_EQ(c.size, 3u);
  auto sorted = make({0.f, l + 1e-4f, l - 1e-4f});
  CandidateList s{sorted.data(), sorted.size(), true};
  min_p(s, 0.5f);
  EXPECT_EQ(s.size, 2u);
  auto one = make({1.f, 1.f});
  CandidateList o{one.data(), one.size(), false};
  min_p(o, 1.f);  // p = 1 keeps exactly the ties of the best
  EXPECT_EQ(o.size, 2u);
}

TEST(TypicalP, AllEqualLogitsKeepTheLowestIdsUntilTheMassPassesP) {
  auto buf = make({2.f, 2.f, 2.f, 2.f});
  CandidateList c{buf.data(), buf.size(), false};
  typical_p(c, 0.5f);  // cum: .25, .5 (not > .5), .75
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_FALSE(c.sorted);
}

TEST(TypicalP, PrefersTokensWhoseSurprisalIsNearTheEntropy) {
  // One likely token and a flat tail: the likely token's surprisal is far
  // below the entropy, the tail's close to it, so the tail is kept first.
  std::vector<float> logits(50, 0.f);
  logits[0] = 3.f;  // p ~ 0.29 against 49 tokens of ~0.014
  double z = 0, h = 0;
  for (float x : logits) z += std::exp(double(x));
  for (float x : logits) h -= std::exp(double(x)) / z * (double(x) - std::log(z));
  const double head_distance = std::fabs(std::log(z) - logits[0] - h);
  const double tail_distance = std::fabs(std::log(z) - logits[1] - h);
  ASSERT_LT(tail_distance, head_distance);
  auto buf = make(logits);
  CandidateList c{buf.data(), buf.size(), false};
  typical_p(c, 0.3f);
  ASSERT_GT(c.size, 1u);
  for (size_t i = 0; i < c.size; ++i) EXPECT_NE(c.data[i].id, 0);  // the mass passes 0.3 within the tail
  EXPECT_EQ(c.data[0].id, 1);  // equal scores: lower id first
}

TEST(TypicalP, UnderflowedProbabilitiesDoNotPoisonTheEntropy) {
  auto buf = make({0.f, -200.f, -1.f});
  CandidateList c{buf.data(), buf.size(), false};
  typical_p(c, 0.9f);
  for (size_t i = 0; i < c.size; ++i) EXPECT_FALSE(std::isnan(c.data[i].score));
  EXPECT_NE(ids(c).back(), 1);  // the p = 0 token sorts last and is never needed
}

TEST(Temperature, ZeroKeepsOnlyTheBestWithTiesToTheLowestId) {
  auto buf = make({1.f, 3.f, 3.f, 2.f});
  std::swap(buf[1], buf[2]);  // list order must not matter
  CandidateList c{buf.data(), buf.size(), false};
  temperature(c, 0.f);
  ASSERT_EQ(c.size, 1u);
  EXPECT_EQ(c.data[0].id, 1);
}

TEST(Temperature, DividesLogits) {
  auto buf = make({1.f, -2.f});
  CandidateList c{buf.data(), buf.size(), true};
  temperature(c, 0.5f);
  EXPECT_FLOAT_EQ(buf[0].logit, 2.f);
  EXPECT_FLOAT_EQ(buf[1].logit, -4.f);
}

TEST(Draw, NeverPicksAZeroProbabilityCandidate) {
  auto buf = make({-200.f, 0.f, -200.f});  // exp(-200) underflows to 0 in float
  CandidateList c{buf.data(), buf.size(), false};
  EXPECT_EQ(draw(c, 0.0), 1u);
  EXPECT_EQ(draw(c, std::nextafter(1.0, 0.0)), 1u);
  EXPECT_FLOAT_EQ(buf[1].p, 1.f);
}

TEST(Draw, MapsTheUnitIntervalOntoCumulativeProbabilities) {
  auto buf = make({0.f, 0.f, std::log(2.f)});  // p = 1/4, 1/4, 1/2
  CandidateList c{buf.data(), buf.size(), false};
  EXPECT_EQ(draw(c, 0.0), 0u);
  EXPECT_EQ(draw(c, 0.24), 0u);
  EXPECT_EQ(draw(c, 0.26), 1u);
  EXPECT_EQ(draw(c, 0.51), 2u);
  EXPECT_EQ(draw(c, 0.999), 2u);
  EXPECT_FLOAT_EQ(buf[2].p, 0.5f);
}

TEST(Uniform01, StaysInTheHalfOpenInterval) {
  std::mt19937_64 rng(1);
  double lo = 1, hi = 0, sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = uniform01(rng);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    sum += u;
  }
  EXPECT_GE(lo, 0.0);
  EXPECT_LT(hi, 1.0);
  EXPECT_NEAR(sum / 100000, 0.5, 0.01);
}

}  // namespace
}  // namespace kiln::engine
