#pragma once
// Shared pieces of the AVX-512 matmul kernels: the row-tile driver, the
// horizontal sums. Included only from files compiled with AVX-512 flags.
// GCC 12's cast intrinsics (_mm512_castsi256_si512 ...) leave the upper
// lanes undefined on purpose and trip -Wuninitialized inside the header.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "backend/cpu/matmul_kernels.h"

namespace kiln::cpu::mm::avx512 {

inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float half(const uint8_t* p) {
  uint16_t h;
  __builtin_memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// Calls Rows::template run<R>(job, n, t) for every weight row of the band
// and every group of up to kTile activation rows: a weight row is decoded
// once per group, so prefill pays the decode once per kTile tokens.
template <class Rows, int kTile>
void drive(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1) {
  for (int64_t t = t0; t < t1; t += kTile) {
    const int64_t r = std::min<int64_t>(kTile, t1 - t);
    for (int64_t n = n0; n < n1; ++n) {
      switch (r) {
        case 1: Rows::template run<1>(job, n, t); break;
        case 2: Rows::template run<2>(job, n, t); break;
        case 3: Rows::template run<3>(job, n, t); break;
        default: Rows::template run<4>(job, n, t); break;
      }
    }
  }
}

}  // namespace kiln::cpu::mm::avx512
