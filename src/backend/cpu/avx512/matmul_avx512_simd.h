#pragma once
// Shared pieces of the AVX-512 matmul kernels: the
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

}  // namespace kiln::cpu::mm::avx512
