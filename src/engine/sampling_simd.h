#pragma once
// 16-float vectors through GCC/Clang vector extensions, for the two loops that
// touch every logit of a row (block maxima, the log-softmax normalizer): the
// plain-C++ versions of these reductions stay scalar, because vectorizing
// them would reassociate float operations, which the compiler may not do on
// its own. The code is the same on every ISA; the compiler lowers it to
// AVX-512, AVX2 or SSE as the build targets.
#include <cstdint>
#include <cstring>

namespace kiln::engine::simd {

typedef float F16 __attribute__((vector_size(64)));
typedef int32_t I16 __attribute__((vector_size(64)));

inline F16 load(const float* p) {
  F16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline F16 splat(float x) { return F16{} + x; }

// Lane-wise x > m ? x : m: NaN in x never replaces m.
inline F16 max(F16 m, F16 x) { return x > m ? x : m; }

inline float hmax(F16 v) {
  float m = v[0];
  for (int i = 1; i < 16; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

// exp(x) for x <= 0, about 2e-7 relative: 2^(x log2 e) split into an integer
// power (set in the exponent bits) and a degree-7 polynomial for the rest.
// Below -87, and for NaN, it returns ~1.6e-38: nothing, in a sum.
inline F16 exp_nonpositive(F16 x) {
  const F16 lo = splat(-87.f);
  x = x > lo ? x : lo;
  const F16 t = x * 1.44269504088896341f;
  F16 whole = __builtin_convertvector(__builtin_convertvector(t, I16), F16);  // trunc
  whole = t < whole ? whole - 1.f : whole;                                     // floor
  const F16 f = (t - whole) * 0.693147180559945309f;  // in [0, ln 2)
  F16 poly = splat(1.f / 5040);
  poly = poly * f + 1.f / 720;
  poly = poly * f + 1.f / 120;
  poly = poly * f + 1.f / 24;
  poly = poly * f + 1.f / 6;
  poly = poly * f + 0.5f;
  poly = poly * f + 1.f;
  poly = poly * f + 1.f;
  const I16 bits = (__builtin_convertvector(whole, I16) + 127) << 23;
  F16 scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return poly * scale;
}

}  // namespace kiln::engine::simd
