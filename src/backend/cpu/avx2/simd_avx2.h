#pragma once
// Small AVX2 helpers shared by the kernel files of this folder (all compiled
// with -mavx2 -mfma -mf16c; include this header from nowhere else).
#include <immintrin.h>

namespace kiln::cpu::mm::avx2 {

// Sum of the 8 floats of v.
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace kiln::cpu::mm::avx2
