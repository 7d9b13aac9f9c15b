// Does sampling draw from the filtered distribution? Tens of thousands of
// draws with a fixed seed, counted and compared with the distribution a naive
// reading of the chain predicts (full sort, double precision) by a
// chi-square test at the 0.1% level. Fixed seeds make it deterministic.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "engine/sampling.h"

namespace kiln::engine {
namespace {

std::vector<float> random_logits(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// The chain without penalties, written the obvious way: token -> probability.
std::map<int32_t, double> expected_distribution(const std::vector<float>& logits, const SamplingParams& p) {
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < ids.size()) ids.resize(p.top_k);
  auto probs = [&](const std::vector<int32_t>& set, double temp) {
    std::vector<double> out;
    double z = 0;
    for (int32_t id : set) z += std::exp((logits[id] - logits[set[0]]) / temp);
    for (int32_t id : set) out.push_back(std::exp((logits[id] - logits[set[0]]) / temp) / z);
    return out;
  };
  if (p.top_p < 1.f) {
    const auto pr = probs(ids, 1.0);
    double cum = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      cum += pr[i];
      if (cum >= p.top_p) {
        ids.resize(i + 1);
        break;
      }
    }
  }
  if (p.min_p > 0.f) {
    const double min_logit = logits[ids[0]] + std::log(double(p.min_p));
    std::erase_if(ids, [&](int32_t id) { return logits[id] < min_logit; });
  }
  const auto pr = probs(ids, p.temperature);
  std::map<int32_t, double> out;
  for (size_t i = 0; i < ids.size(); ++i) out[ids[i]] = pr[i];
  return out;
}

// Wilson-Hilferty approximation of the chi-square quantile (z = 3.09: 0.1%).
double chi2_critical(int df) {
  const double z = 3.09, a = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - a + z * std::sqrt(a), 3);
}

void check_distribution(const std::vector<float>& logits, const SamplingParams& p, int draws) {
  const auto expected = expected_distribution(logits, p);
  Sampler s(static_cast<int32_t>(logits.size()), p);
  std::map<int32_t, int> counts;
  for (int i = 0; i < draws; ++i) ++counts[s.choose(logits)];
  // Nothing outside the filtered set, ever.
  for (auto [id, n] : counts) ASSERT_TRUE(expected.count(id)) << "token " << id << " drawn " << n << " times";
  // The sampler's own view of the distribution agrees with the naive one.
  for (const auto& c : s.workspace().last_candidates()) EXPECT_NEAR(c.p, expected.at(c.id), 2e-5) << c.id;
  // Chi-square over bins of expected count >= 5 (rarer tokens pooled).
  double chi2 = 0, pooled_expect = 0, pooled_seen = 0;
  int bins = 0;
  for (auto [id, prob] : expected) {
    const double e = prob * draws;
    const double o = counts.count(id) ? counts.at(id) : 0;
    if (e < 5) {
      pooled_expect += e;
      pooled_seen += o;
      continue;
    }
    chi2 += (o - e) * (o - e) / e;
    ++bins;
  }
  if (pooled_expect >= 5) {
    chi2 += (pooled_seen - pooled_expect) * (pooled_seen - pooled_expect) / pooled_expect;
    ++bins;
  }
  ASSERT_GE(bins, 3) << "the case should spread over several tokens";
  EXPECT_LT(chi2, chi2_critical(bins - 1)) << bins << " bins";
}

TEST(SamplingDistribution, OllamaDefaults) {
  SamplingParams p;  // top_k 40, top_p 0.9, temperature 0.8
  p.repeat_penalty = 1.f;
  p.seed = 11;
  check_distribution(random_logits(8000, 1, 1.5f), p, 30000);
}

TEST(SamplingDistribution, WholeVocabularyAtHighTemperature) {
  SamplingParams p;
  p.top_k = 0;
  p.top_p = 1.f;
  p.temperature = 1.7f;
  p.repeat_penalty = 1.f;
  p.seed = 12;
  check_distribution(random_logits(60, 2, 1.f), p, 30000);
}

TEST(SamplingDistribution, MinPAndLowTemperature) {
  SamplingParams p;
  p.top_k = 0;
  p.top_p = 1.f;
  p.min_p = 0.05f;
  p.temperature = 0.5f;
  p.repeat_penalty = 1.f;
  p.seed = 13;
  check_distribution(random_logits(2000, 3, 1.f), p, 20000);
}

TEST(SamplingDistribution, AllEqualLogitsAreUniform) {
  SamplingParams p;
  p.top_k = 0;
  p.top_p = 1.f;
  p.temperature = 1.f;
  p.repeat_penalty = 1.f;
  p.seed = 14;
  check_distribution(std::vector<float>(20, 0.25f), p, 20000);
}

}  // namespace
}  // namespace kiln::engine
