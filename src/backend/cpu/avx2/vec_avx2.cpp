// AVX2 versions of the small vector kernels of vec.h (SiLU, the
// exponentials of softmax, softcap; GELU stays portable, see vec.cpp),
// chosen at run time by vec.cpp on a CPU with AVX2/FMA but no AVX-512.
// Without them those loops call libm's expf/tanhf one value at a time.
#include <immintrin.h>

#include <cmath>

#include "backend/cpu/vec.h"

namespace kiln::cpu {

namespace {

// e^x for 8 lanes: ggml's AVX2 ggml_v_expf (ARM optimized-routines; max
// error 1.45 + 0.5 ulp), the same algorithm as the AVX-512 exp16 with the
// 2^n scaling done in the exponent bits: x = n ln2 + b, e^b by a degree-5
// polynomial; |n| > 126 takes the slow path that splits the scale in two,
// |n| > 192 gives +inf or 0.
inline __m256 exp8(__m256 x) {
  const __m256 r = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
  const __m256 n = _mm256_sub_ps(z, r);
  const __m256 b =
      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1))));
  const __m256 absn = _mm256_andnot_ps(_mm256_set1_ps(-0.f), n);
  const __m256 c = _mm256_cmp_ps(absn, _mm256_set1_ps(126), _CMP_GT_OQ);
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                      _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
      u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
  if (!_mm256_movemask_ps(c)) return _mm256_fmadd_ps(j, k, k);
  const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                     _mm256_set1_epi32(int(0x82000000u)));
  const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
  const __m256 d = _mm256_cmp_ps(absn, _mm256_set1_ps(192), _CMP_GT_OQ);
  return _mm256_or_ps(
      _mm256_and_ps(d, _mm256_mul_ps(s1, s1)),
      _mm256_andnot_ps(d, _mm256_or_ps(_mm256_and_ps(c, _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1)),
                                       _mm256_andnot_ps(c, _mm256_fmadd_ps(k, j, k)))));
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The last n < 8 values of a row through the same vector code as the rest
// (as the AVX-512 versions do with masks), so a value's result does not
// depend on where the row is cut: a token's activations come out the same
// whether it is computed alone or inside a prefill chunk.
struct Tail {
  int64_t n;
  __m256i mask;
  explicit Tail(int64_t left) : n(left) {
    mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(left)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  __m256 load(const float* p) const { return _mm256_maskload_ps(p, mask); }
  void store(float* p, __m256 v) const { _mm256_maskstore_ps(p, mask, v); }
};

}  // namespace

namespace avx2 {

inline __m256 silu8(__m256 x, __m256 u) {
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
  return _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.f), e)), u);
}

void silu_mul(const float* g, const float* u, float* o, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, silu8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
  Tail t(n - i);
  if (t.n) t.store(o + i, silu8(t.load(g + i), t.load(u + i)));
}

// As ggml_vec_soft_max_f32: whole 8-lane chunks through exp8, each chunk's
// sum added in double; the tail with expf (as the AVX-512 version).
double exp_sub_sum(float* x, int64_t n, float sub) {
  double sum = 0;
  const __m256 s = _mm256_set1_ps(sub);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
    _mm256_storeu_ps(x + i, e);
    sum += double(hsum(e));
  }
  for (; i < n; ++i) sum += double(x[i] = std::exp(x[i] - sub));
  return sum;
}

void tanh_cap(float* x, int64_t n, float cap) {
  // cap * tanh(x / cap) = cap * (1 - 2 / (1 + e^(2x/cap))).
  const __m256 k = _mm256_set1_ps(2.f / cap), c = _mm256_set1_ps(cap), one = _mm256_set1_ps(1.f);
  auto cap8 = [&](__m256 v) {
    const __m256 e = exp8(_mm256_mul_ps(v, k));
    return _mm256_mul_ps(c, _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.f), _mm256_add_ps(one, e))));
  };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, cap8(_mm256_loadu_ps(x + i)));
  Tail t(n - i);
  if (t.n) t.store(x + i, cap8(t.load(x + i)));
}

}  // namespace avx2

}  // namespace kiln::cpu
