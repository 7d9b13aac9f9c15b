// AVX-512 versions of the small vector kernels of vec.h (activations, the
// exponentials of softmax) and of the activation quantizer of the integer
// matmuls. Chosen at run time (vec.cpp, matmul.cpp); the quantizer gives the
// same bytes as the portable one (quantize_act.cpp): the same f32 products,
// rounded to nearest even, so every ISA's integer dots agree.
#include <immintrin.h>

#include <cfloat>
#include <cmath>

#include "backend/cpu/matmul_kernels.h"
#include "backend/cpu/vec.h"

namespace kiln::cpu {

namespace {

// e^x for 16 lanes, the algorithm of ggml's ggml_v_expf (from ARM's
// optimized-routines; max error 1.45 + 0.5 ulp): x = n ln2 + b with n from
// the round-to-nearest trick, e^b by a degree-5 polynomial, scaled by 2^n
// with vscalefps; |n| > 192 gives +inf or 0. The same instructions as ggml,
// so kiln's softmax and SiLU see llama.cpp's exponentials bit for bit.
inline __m512 exp16(__m512 x) {
  const __m512 r = _mm512_set1_ps(0x1.8p23f);
  const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
  const __m512 n = _mm512_sub_ps(z, r);
  const __m512 b =
      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
  const __mmask16 d = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 j = _mm512_fmadd_ps(
      _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                      _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
      u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
  const __m512 res = _mm512_scalef_ps(j, n);
  if (_mm512_kortestz(d, d)) return res;
  const __m512 zero = _mm512_setzero_ps();
  const __m512 alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, zero, _CMP_LE_OQ), _mm512_set1_ps(INFINITY), zero);
  return _mm512_mask_blend_ps(d, res, alt);
}

inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1); }

}  // namespace

namespace avx512 {

void silu_mul(const float* g, const float* u, float* o, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 x = _mm512_maskz_loadu_ps(m, g + i);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
    const __m512 s = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.f), e));
    _mm512_mask_storeu_ps(o + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
  }
}

// 0.5 v (1 + tanh z) = v / (1 + e^(-2z)), z = sqrt(2/pi) (v + 0.044715 v^3).
void gelu_mul(const float* g, const float* u, float* o, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, g + i);
    const __m512 v2 = _mm512_mul_ps(v, v);
    const __m512 z = _mm512_mul_ps(_mm512_mul_ps(v, _mm512_set1_ps(-2.f * 0.79788456080286535588f)),
                                   _mm512_fmadd_ps(v2, _mm512_set1_ps(0.044715f), _mm512_set1_ps(1.f)));
    const __m512 s = _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.f), exp16(z)));
    _mm512_mask_storeu_ps(o + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
  }
}

// As ggml_vec_soft_max_f32: whole 16-lane chunks through exp16, each
// chunk's sum added in double; the tail with expf.
double exp_sub_sum(float* x, int64_t n, float sub) {
  double sum = 0;
  const __m512 s = _mm512_set1_ps(sub);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
    _mm512_storeu_ps(x + i, e);
    sum += double(_mm512_reduce_add_ps(e));
  }
  for (; i < n; ++i) sum += double(x[i] = std::exp(x[i] - sub));
  return sum;
}

void tanh_cap(float* x, int64_t n, float cap) {
  // cap * tanh(x / cap) = cap * (1 - 2 / (1 + e^(2x/cap))).
  const __m512 k = _mm512_set1_ps(2.f / cap), c = _mm512_set1_ps(cap), one = _mm512_set1_ps(1.f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 e = exp16(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), k));
    const __m512 t = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.f), _mm512_add_ps(one, e)));
    _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(c, t));
  }
}

}  // namespace avx512

namespace mm {

// As quantize_act_row (quantize_act.cpp), 16 values per instruction.
void quantize_act_row_avx512(const float* x, const Acts& acts, int64_t t) {
  int8_t* q = acts.q(t);
  float* d = acts.d(t);
  int16_t* sums = acts.sums(t);
  const int B = acts.block, G = acts.sum_group;
  const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < acts.K / B; ++b) {
    const float* xb = x + b * B;
    __m512 vmax = _mm512_setzero_ps();
    for (int i = 0; i < B; i += 16) vmax = _mm512_max_ps(vmax, _mm512_and_ps(_mm512_loadu_ps(xb + i), sign));
    // A nan lane: max_ps returns its second operand when either is nan, so
    // look for nan separately; inf shows up as amax > FLT_MAX.
    __mmask16 bad = 0;
    for (int i = 0; i < B; i += 16) bad |= _mm512_cmp_ps_mask(_mm512_loadu_ps(xb + i), _mm512_loadu_ps(xb + i), _CMP_UNORD_Q);
    const float amax = _mm512_reduce_max_ps(vmax);
    const bool finite = bad == 0 && amax <= FLT_MAX;
    const float id = finite && amax > 0.f ? 127.f / amax : 0.f;
    d[b] = finite ? act_scale(B, amax, id) : NAN;
    int8_t* qb = q + b * B;
    const __m512 vid = _mm512_set1_ps(id);
    for (int i = 0; i < B; i += 16) {
      // cvtps rounds to nearest even (the default MXCSR mode), like nearbyint.
      const __m512i qi = finite ? _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + i), vid)) : _mm512_setzero_si512();
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qb + i), _mm512_cvtepi32_epi8(qi));
      if (G == 16) {
        sums[b * (B / G) + i / 16] = int16_t(_mm512_reduce_add_epi32(qi));
      } else if (i % 32 == 16) {
        const __m512i lo = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qb + i - 16)));
        sums[b * (B / G) + i / 32] = int16_t(_mm512_reduce_add_epi32(_mm512_add_epi32(lo, qi)));
      }
    }
    if (B == 32) {
      _mm256_store_ps(acts.lane_d(t) + 8 * b, _mm256_set1_ps(d[b]));
      _mm256_store_si256(reinterpret_cast<__m256i*>(acts.lane_negsum(t) + 8 * b),
                         _mm256_setr_epi32(-sums[b], 0, 0, 0, 0, 0, 0, 0));
    }
  }
}

}  // namespace mm

}  // namespace kiln::cpu
