// AVX-512 VNNI kernels for the 32-value block types Q4_0, Q5_0 and Q8_0.
//
// Two weight blocks are decoded into one zmm of 64 unsigned bytes (Q8_0's
// signed bytes biased by +128), and vpdpbusd multiplies them with the int8
// activations: 16 dword lanes, 8 per block. Each block's accumulator starts
// at -offset * sum(q) (the activation row's lane_negsum, shifted), so the
// lanes hold the exact integer dot of the signed weights. Lanes are then
// scaled by the weight scale (shared by every activation row of the tile)
// and the activation scale (pre-spread by the quantizer, one load).
#include "backend/cpu/avx512/matmul_avx512_simd.h"
#include "core/quant/blocks.h"

namespace kiln::cpu::mm::avx512 {

namespace {

using namespace kiln::quant;

// [lo, hi] 32-byte halves of two blocks -> block order [b lo, b hi, b1 lo, b1 hi].
inline __m512i order_pair(__m256i lo, __m256i hi) {
  const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
  return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

inline __m256i nibbles_lo(__m256i v) { return _mm256_and_si256(v, _mm256_set1_epi8(15)); }
inline __m256i nibbles_hi(__m256i v) { return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(15)); }

inline __m512 pair_scale(float d0, float d1) {
  return _mm512_insertf32x8(_mm512_set1_ps(d0), _mm256_set1_ps(d1), 1);
}

struct Q4_0 {
  using Block = BlockQ4_0;
  static constexpr int kShift = 3;  // offset 8
  static __m512i pair(const Block* b) {
    const __m256i q = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[0].qs))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[1].qs)), 1);
    return order_pair(nibbles_lo(q), nibbles_hi(q));
  }
  static __m256i single(const Block* b) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs));
    const __m256i q2 = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
    return _mm256_and_si256(q2, _mm256_set1_epi8(15));
  }
};

struct Q5_0 {
  using Block = BlockQ5_0;
  static constexpr int kShift = 4;  // offset 16
  static __m512i pair(const Block* b) {
    uint32_t h0, h1;
    __builtin_memcpy(&h0, b[0].qh, 4);
    __builtin_memcpy(&h1, b[1].qh, 4);
    const __mmask64 k = _cvtu64_mask64(uint64_t(h0) | (uint64_t(h1) << 32));
    const __m256i q = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[0].qs))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[1].qs)), 1);
    const __m512i w = order_pair(nibbles_lo(q), nibbles_hi(q));
    return _mm512_mask_add_epi8(w, k, w, _mm512_set1_epi8(16));
  }
  static __m256i single(const Block* b) {
    uint32_t h;
    __builtin_memcpy(&h, b->qh, 4);
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs));
    __m256i w = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
    w = _mm256_and_si256(w, _mm256_set1_epi8(15));
    return _mm256_mask_add_epi8(w, _cvtu32_mask32(h), w, _mm256_set1_epi8(16));
  }
};

struct Q8_0 {
  using Block = BlockQ8_0;
  static constexpr int kShift = 7;  // bias 128
  static __m512i pair(const Block* b) {
    const __m512i w = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[0].qs))),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[1].qs)), 1);
    return _mm512_xor_si512(w, _mm512_set1_epi8(char(0x80)));
  }
  static __m256i single(const Block* b) {
    return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qs)), _mm256_set1_epi8(char(0x80)));
  }
};

template <class T>
struct LegacyRows {
  template <int R>
  static void run(const Job& job, int64_t n, int64_t t) {
    const auto* w = reinterpret_cast<const typename T::Block*>(job.wrow(n));
    const int64_t nb = job.K / 32;
    const int8_t* q[R];
    const float* ld[R];
    const int32_t* ln[R];
    __m512 acc[R];
    for (int r = 0; r < R; ++r) {
      q[r] = job.acts.q(t + r);
      ld[r] = job.acts.lane_d(t + r);
      ln[r] = job.acts.lane_negsum(t + r);
      acc[r] = _mm512_setzero_ps();
    }
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      const __m512i wv = T::pair(w + b);
      const __m512 ws = pair_scale(half(reinterpret_cast<const uint8_t*>(&w[b].d)),
                                   half(reinterpret_cast<const uint8_t*>(&w[b + 1].d)));
      for (int r = 0; r < R; ++r) {
        const __m512i init = _mm512_slli_epi32(_mm512_load_si512(ln[r] + 8 * b), T::kShift);
        const __m512i dot = _mm512_dpbusd_epi32(init, wv, _mm512_loadu_si512(q[r] + 32 * b));
        acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(dot), ws), _mm512_load_ps(ld[r] + 8 * b), acc[r]);
      }
    }
    float tail[R] = {};
    if (b < nb) {
      const __m256i wv = T::single(w + b);
      const __m256 ws = _mm256_set1_ps(half(reinterpret_cast<const uint8_t*>(&w[b].d)));
      for (int r = 0; r < R; ++r) {
        const __m256i init = _mm256_slli_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(ln[r] + 8 * b)), T::kShift);
        const __m256i dot = _mm256_dpbusd_epi32(init, wv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q[r] + 32 * b)));
        tail[r] = hsum(_mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(dot), ws), _mm256_load_ps(ld[r] + 8 * b)));
      }
    }
    for (int r = 0; r < R; ++r) job.yrow(t + r)[n] = hsum(acc[r]) + tail[r];
  }
};

template <class T>
void legacy_kernel(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1, int) {
  drive_rows_by_4<LegacyRows<T>>(job, n0, n1, t0, t1);
}

}  // namespace

KernelFn legacy_kernel_for(GgmlType wt) {
  switch (wt) {
    case GgmlType::Q4_0: return legacy_kernel<Q4_0>;
    case GgmlType::Q5_0: return legacy_kernel<Q5_0>;
    case GgmlType::Q8_0: return legacy_kernel<Q8_0>;
    default: return nullptr;
  }
}

}  // namespace kiln::cpu::mm::avx512
