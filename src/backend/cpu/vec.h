#pragma once
// Small vector kernels the CPU ops are built from. Written as plain loops with
// independent accumulators so that the compiler vectorizes them for whatever
// ISA the build targets; the f16 conversion, which compilers cannot vectorize
// from the portable bit manipulation, picks an F16C path at run time.
#include <cstdint>

namespace kiln::cpu {

// sum a[i] * b[i] in f32 with 16 independent partial sums (vectorizes to
// one or two SIMD accumulators; rounding differs from a serial sum only by
// reassociation).
inline float dot(const float* a, const float* b, int64_t n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

inline float sum_squares(const float* a, int64_t n) { return dot(a, a, n); }

// y[i] = y[i] * s + a * x[i]
inline void scale_add(float* y, float s, float a, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = y[i] * s + a * x[i];
}

// o[i] = silu(g[i]) * u[i] and o[i] = gelu_tanh(g[i]) * u[i] (o may alias g
// or u). AVX-512 when the CPU has it: ggml's polynomial e^x (within ~2 ulp),
// so results differ from the scalar reference (ops_ref) by a few ulp. GELU is
// computed in f32: ggml's f16 lookup table (input and result rounded to f16)
// was tried and measured no closer to llama.cpp (docs/engine.md).
void silu_mul(const float* g, const float* u, float* o, int64_t n);
void gelu_mul(const float* g, const float* u, float* o, int64_t n);
// x[i] = e^(x[i] - sub); returns the sum of the new x[i], added in double
// as ggml's softmax adds them.
double exp_sub_sum(float* x, int64_t n, float sub);
// x[i] = cap * tanh(x[i] / cap).
void tanh_cap(float* x, int64_t n, float cap);

// IEEE half -> f32 for n values (exact; F16C when the CPU has it).
void f16_to_f32(const uint16_t* x, float* y, int64_t n);
// f32 -> IEEE half, round to nearest even (F16C when the CPU has it).
void f32_to_f16(const float* x, uint16_t* y, int64_t n);

}  // namespace kiln::cpu
