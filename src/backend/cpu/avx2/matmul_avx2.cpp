// AVX2 kernels (compiled with AVX2/FMA/F16C flags whatever the build options;
// matmul.cpp calls them only when the CPU has the features): the 32-value
// block types Q4_0, Q5_0, Q8_0 and f32/f16 rows. Other types fall back to the
// scalar kernels.
//
// One block per ymm: vpmaddubsw (unsigned weights x signed activations, pair
// sums <= 2*31*127 for Q5_0, no saturation) then vpmaddwd with ones gives 8
// exact dword partial dots, started at -offset*sum(q) as in the AVX-512 path.
// Q8_0's signed weights would overflow vpmaddubsw's pairs once biased to
// unsigned, so it uses |w| x sign(a, w) instead (pairs <= 2*128*127).
#include <immintrin.h>

#include <algorithm>

#include "backend/cpu/matmul_kernels.h"
#include "core/quant/blocks.h"

namespace kiln::cpu::mm {

namespace {

using namespace kiln::quant;

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float half(const uint16_t* p) { return _cvtsh_ss(*p); }

inline __m256i nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(15));
}

// 0xFF in byte j where bit j of x is set.
inline __m256i bytes_from_bits(uint32_t x) {
  const __m256i pick = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
  const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(int(x)), pick);
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201));
  return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

struct Q4_0 {
  using Block = BlockQ4_0;
  static constexpr int kShift = 3;
  static __m256i dot(const Block& b, __m256i a) { return _mm256_maddubs_epi16(nibbles(b.qs), a); }
};

struct Q5_0 {
  using Block = BlockQ5_0;
  static constexpr int kShift = 4;
  static __m256i dot(const Block& b, __m256i a) {
    uint32_t h;
    __builtin_memcpy(&h, b.qh, 4);
    const __m256i w = _mm256_or_si256(nibbles(b.qs), _mm256_and_si256(bytes_from_bits(h), _mm256_set1_epi8(16)));
    return _mm256_maddubs_epi16(w, a);
  }
};

struct Q8_0 {
  using Block = BlockQ8_0;
  static constexpr int kShift = -1;  // no offset
  static __m256i dot(const Block& b, __m256i a) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
    return _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w));
  }
};

template <class T, int R>
void legacy_rows(const Job& job, int64_t n, int64_t t) {
  const auto* w = reinterpret_cast<const typename T::Block*>(job.wrow(n));
  const int64_t nb = job.K / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const __m256 ws = _mm256_set1_ps(half(&w[b].d));
    for (int r = 0; r < R; ++r) {
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(job.acts.q(t + r) + 32 * b));
      __m256i d = _mm256_madd_epi16(T::dot(w[b], a), ones);
      if constexpr (T::kShift >= 0)
        d = _mm256_add_epi32(d, _mm256_slli_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(
                                                       job.acts.lane_negsum(t + r) + 8 * b)), T::kShift));
      acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(d), ws), _mm256_load_ps(job.acts.lane_d(t + r) + 8 * b), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) job.yrow(t + r)[n] = hsum(acc[r]);
}

struct F32 {
  static __m256 load(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static float one(const uint8_t* p) { return *reinterpret_cast<const float*>(p); }
  static constexpr int kBytes = 4;
};
struct F16 {
  static __m256 load(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static float one(const uint8_t* p) { return half(reinterpret_cast<const uint16_t*>(p)); }
  static constexpr int kBytes = 2;
};

template <class T, int R>
void float_rows(const Job& job, int64_t n, int64_t t) {
  const uint8_t* w = job.wrow(n);
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= job.K; k += 8) {
    const __m256 wv = T::load(w + k * T::kBytes);
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(job.xrow(t + r) + k), acc[r]);
  }
  for (int r = 0; r < R; ++r) {
    float s = hsum(acc[r]);
    for (int64_t j = k; j < job.K; ++j) s += T::one(w + j * T::kBytes) * job.xrow(t + r)[j];
    job.yrow(t + r)[n] = s;
  }
}

// Weight row decoded once per tile of up to 4 activation rows.
template <class T, bool kFloat, int R>
void rows(const Job& job, int64_t n, int64_t t) {
  if constexpr (kFloat) float_rows<T, R>(job, n, t);
  else legacy_rows<T, R>(job, n, t);
}

template <class T, bool kFloat>
void kernel(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1, int) {
  for (int64_t t = t0; t < t1; t += 4) {
    const int64_t r = std::min<int64_t>(4, t1 - t);
    for (int64_t n = n0; n < n1; ++n) {
      switch (r) {
        case 1: rows<T, kFloat, 1>(job, n, t); break;
        case 2: rows<T, kFloat, 2>(job, n, t); break;
        case 3: rows<T, kFloat, 3>(job, n, t); break;
        default: rows<T, kFloat, 4>(job, n, t); break;
      }
    }
  }
}

}  // namespace

KernelFn avx2_kernel(GgmlType wt) {
  switch (wt) {
    case GgmlType::Q4_0: return kernel<Q4_0, false>;
    case GgmlType::Q5_0: return kernel<Q5_0, false>;
    case GgmlType::Q8_0: return kernel<Q8_0, false>;
    case GgmlType::F32: return kernel<F32, true>;
    case GgmlType::F16: return kernel<F16, true>;
    default: return nullptr;
  }
}

}  // namespace kiln::cpu::mm
