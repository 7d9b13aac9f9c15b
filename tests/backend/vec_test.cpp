// The vector kernels of backend/cpu/vec.h (the SIMD version this CPU picks:
// AVX-512, AVX2 or the portable loops) against double-precision formulas,
// over the whole input range: exp underflow and overflow (|x| > 126 and
// > 192 take separate paths in the polynomial e^x), lengths with and
// without a tail.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/vec.h"

namespace kiln::cpu {
namespace {

std::vector<float> inputs(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = u(rng);
  return x;
}

// Relative error within a few ulp (ggml's e^x: <= 2 ulp), plus an absolute
// floor `abs` for results that f32 cannot carry to full relative precision
// (silu(x) for x < -88, where e^-x overflows to inf and the result to -0).
void expect_near_rel(double got, double want, double rel, const char* what, int64_t i, double in, double abs = 1e-30) {
  if (std::isinf(want)) {
    EXPECT_EQ(got, want) << what << " at " << i << " (x = " << in << ")";
    return;
  }
  EXPECT_LE(std::fabs(got - want), rel * std::fabs(want) + abs) << what << " at " << i << " (x = " << in << ")";
}

TEST(Vec, SiluAndGeluMulMatchDouble) {
  for (int64_t n : {1, 7, 8, 33, 1001}) {
    auto g = inputs(n, -120.f, 120.f, 1 + uint32_t(n));
    const auto u = inputs(n, -2.f, 2.f, 2 + uint32_t(n));
    g[0] = 0.f;
    std::vector<float> o(g.size());
    silu_mul(g.data(), u.data(), o.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double v = g[size_t(i)], want = v / (1.0 + std::exp(-v)) * u[size_t(i)];
      expect_near_rel(o[size_t(i)], want, 1e-6, "silu_mul", i, v);
    }
    for (auto& v : g) v *= 0.05f;  // gelu's cubic: keep z in the range that matters
    gelu_mul(g.data(), u.data(), o.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      // 0.5 v (1 + tanh z) written as v / (1 + e^-2z), which has no
      // cancellation in double for negative v. z is formed in f32 by the
      // kernel (a few ulp), and e^z carries that error times |z|.
      const double v = g[size_t(i)], z = 0.7978845608028654 * v * (1.0 + 0.044715 * v * v);
      const double want = v / (1.0 + std::exp(-2.0 * z)) * u[size_t(i)];
      // The portable loop (and the reference op) form 0.5 v (1 + tanh z) in
      // f32, which cancels for negative v: up to ~|v u| 2^-24 absolute.
      expect_near_rel(o[size_t(i)], want, 1e-6 * (2.0 + 2.0 * std::fabs(z)), "gelu_mul", i, v,
                      1.2e-7 * std::fabs(v * u[size_t(i)]) + 1e-30);
    }
  }
}

TEST(Vec, ExpSubSumCoversUnderflowAndOverflow) {
  for (int64_t n : {1, 9, 64, 1003}) {
    // x - sub from about -220 (0, and the |n| > 126 and > 192 paths) up to +10.
    auto x = inputs(n, -210.f, 20.f, 3 + uint32_t(n));
    const std::vector<float> in = x;
    const double sum = exp_sub_sum(x.data(), n, 10.f);
    double want_sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double want = std::exp(double(in[size_t(i)] - 10.f));  // the f32 difference the kernel forms
      want_sum += want;
      expect_near_rel(x[size_t(i)], want, 1e-6, "exp_sub_sum", i, in[size_t(i)]);
    }
    EXPECT_NEAR(sum, want_sum, 1e-6 * want_sum + 1e-30);
  }
  // Large positive arguments overflow to +inf, as expf does.
  std::vector<float> big(16, 100.f);
  EXPECT_TRUE(std::isinf(exp_sub_sum(big.data(), 16, 0.f)));
  EXPECT_TRUE(std::isinf(big[3]));
}

TEST(Vec, TanhCapMatchesDouble) {
  for (int64_t n : {5, 16, 1001}) {
    auto x = inputs(n, -500.f, 500.f, 4 + uint32_t(n));
    const std::vector<float> in = x;
    tanh_cap(x.data(), n, 30.f);
    for (int64_t i = 0; i < n; ++i) {
      const double want = 30.0 * std::tanh(double(in[size_t(i)]) / 30.0);
      // 1 - 2/(1 + e) loses relative precision near 0: bound absolute there.
      EXPECT_LE(std::fabs(x[size_t(i)] - want), 2e-6 * std::fabs(want) + 30.0 * 0x1p-22) << "tanh_cap at " << i;
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
