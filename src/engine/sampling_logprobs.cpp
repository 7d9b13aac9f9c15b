#include "engine/sampling_logprobs.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "engine/sampling_filters.h"
#include "engine/sampling_simd.h"

namespace kiln::engine {
namespace {

// sum_i exp(x_i - m) and max: vector lanes per block of 1024 logits, blocks
// summed in double, so the error stays near float rounding for any vocabulary.
double sum_exp(const float* x, size_t n, float m) {
  constexpr size_t kBlock = 1024;
  const simd::F16 vm = simd::splat(m);
  double total = 0;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    simd::F16 acc{};
    for (size_t j = i; j < i + kBlock; j += 16) acc += simd::exp_nonpositive(simd::load(x + j) - vm);
    for (int l = 0; l < 16; ++l) total += acc[l];
  }
  for (; i < n; ++i) total += std::exp(x[i] - m);
  return total;
}

float max_of(const float* x, size_t n) {
  simd::F16 vm = simd::splat(-INFINITY);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) vm = simd::max(vm, simd::load(x + i));
  float m = simd::hmax(vm);
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

}  // namespace

void check_top_logprobs(int n) {
  if (n < 0 || n > kMaxTopLogprobs)
    throw Error("top_logprobs must be between 0 and " + std::to_string(kMaxTopLogprobs) + " (got " +
                std::to_string(n) + ")");
}

void compute_logprobs(std::span<const float> logits, int32_t chosen, int top_n, Logprobs& out) {
  check_top_logprobs(top_n);
  if (logits.empty()) throw Error("logprobs: empty row of logits");
  if (chosen < 0 || static_cast<size_t>(chosen) >= logits.size())
    throw Error("logprobs: token " + std::to_string(chosen) + " is outside the vocabulary of " +
                std::to_string(logits.size()));
  const float* x = logits.data();
  const size_t n = logits.size();
  const float m = max_of(x, n);
  // log_softmax(x)_i = (x_i - m) - log(sum_j exp(x_j - m)).
  const double sum = std::isfinite(m) ? sum_exp(x, n, m) : 0.0;
  const float log_sum = std::isfinite(m) ? static_cast<float>(std::log(sum)) : 0.f;
  auto logprob = [&](size_t i) -> float {
    if (!std::isfinite(m)) return x[i] == m ? 0.f : -INFINITY;  // degenerate rows
    return (x[i] - m) - log_sum;
  };
  out.chosen = {chosen, logprob(static_cast<size_t>(chosen))};
  out.n_top = 0;
  if (top_n == 0) return;
  Candidate best[kMaxTopLogprobs];
  const size_t got = select_top(logits, static_cast<size_t>(top_n), best);
  for (size_t i = 0; i < got; ++i) out.top_storage[i] = {best[i].id, logprob(static_cast<size_t>(best[i].id))};
  out.n_top = static_cast<int>(got);
}

}  // namespace kiln::engine
