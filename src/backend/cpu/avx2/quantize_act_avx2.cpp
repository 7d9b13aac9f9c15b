// The activation quantizer of the integer matmuls (format in
// matmul_kernels.h) with AVX2, 8 values per instruction. Gives the same
// bytes as the portable quantize_act_row (checked by a test): the same
// amax, the same f32 products x * (127 / amax), rounded to nearest even by
// vcvtps2dq (the default MXCSR mode, like nearbyint), the same scale.
#include <immintrin.h>

#include <cfloat>
#include <cmath>

#include "backend/cpu/matmul_kernels.h"

namespace kiln::cpu::mm {

namespace {

inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

}  // namespace

void quantize_act_row_avx2(const float* x, const Acts& acts, int64_t t) {
  int8_t* q = acts.q(t);
  float* d = acts.d(t);
  int16_t* sums = acts.sums(t);
  const int B = acts.block, G = acts.sum_group;
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < acts.K / B; ++b) {
    const float* xb = x + b * B;
    __m256 vmax = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (int i = 0; i < B; i += 8) {
      const __m256 v = _mm256_loadu_ps(xb + i);
      vmax = _mm256_max_ps(vmax, _mm256_and_ps(v, abs_mask));
      // max_ps drops a nan operand, so look for nan separately; inf shows
      // up as amax > FLT_MAX.
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    const float amax = hmax(vmax);
    const bool finite = _mm256_movemask_ps(bad) == 0 && amax <= FLT_MAX;
    const float id = finite && amax > 0.f ? 127.f / amax : 0.f;
    d[b] = finite ? act_scale(B, amax, id) : NAN;
    int8_t* qb = q + b * B;
    const __m256 vid = _mm256_set1_ps(id);
    for (int i = 0; i < B; i += 32) {
      __m256i qi[4];
      for (int j = 0; j < 4; ++j)
        qi[j] = finite ? _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i + 8 * j), vid)) : _mm256_setzero_si256();
      // |q| <= 127: the saturating packs are exact; the permute undoes
      // their per-128-bit-half interleaving.
      const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(qi[0], qi[1]), _mm256_packs_epi32(qi[2], qi[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb + i), _mm256_permutevar8x32_epi32(p, order));
      if (G == 16) {
        sums[b * (B / G) + i / 16] = int16_t(hsum_i32(_mm256_add_epi32(qi[0], qi[1])));
        sums[b * (B / G) + i / 16 + 1] = int16_t(hsum_i32(_mm256_add_epi32(qi[2], qi[3])));
      } else {
        sums[b * (B / G) + i / 32] =
            int16_t(hsum_i32(_mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3]))));
      }
    }
    if (B == 32) {
      _mm256_store_ps(acts.lane_d(t) + 8 * b, _mm256_set1_ps(d[b]));
      _mm256_store_si256(reinterpret_cast<__m256i*>(acts.lane_negsum(t) + 8 * b),
                         _mm256_setr_epi32(-sums[b], 0, 0, 0, 0, 0, 0, 0));
    }
  }
}

}  // namespace kiln::cpu::mm
