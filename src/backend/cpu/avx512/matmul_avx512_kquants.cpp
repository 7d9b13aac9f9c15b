// AVX-512 VNNI kernels for Q4_K, Q5_K and Q6_K, plus the f32/f16/bf16 rows
// and the table avx512_kernel() that matmul.cpp dispatches through.
//
// A super-block (256 weights) is decoded once per tile of activation rows
// into four zmm of 64 unsigned values in natural order, four vectors of
// 16-bit sub-block scales (one per vpmaddubsw output lane), and one vector of
// per-16 coefficients for the activation sums (the minimums of Q4_K/Q5_K,
// Q6_K's -32 offset times its scales). Per activation row:
//   vpmaddubsw (u8 x s8 -> pairs, <= 2*63*127, no saturation) then vpdpwssd
//   with the scales accumulates the exact integer sum(scale * q * a);
//   vpmaddwd of the per-16 sums with the coefficients gives the exact
//   correction; both are scaled once per super-block in f32.
#include "backend/cpu/avx512/matmul_avx512_simd.h"
#include "core/quant/blocks.h"

namespace kiln::cpu::mm::avx512 {

KernelFn legacy_kernel_for(GgmlType wt);

namespace {

using namespace kiln::quant;

struct Decoded {
  __m512i w[4];   // 256 unsigned values
  __m512i s[4];   // int16 scale for each vpmaddubsw lane of w[j]
  __m256i m;      // int16 coefficient of each per-16 activation sum
  float d, dm;    // y += d*da*sum(s*w*a) - dm*da*sum(m*bsum)
};

// Per-lane scale vectors from 8 (groups of 32) or 16 (groups of 16) scales.
inline void spread32(__m128i sc8x16, __m512i s[4]) {  // 8 int16 scales
  const __m512i v = _mm512_castsi128_si512(sc8x16);
  for (int j = 0; j < 4; ++j) {
    const __m512i idx = _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(short(2 * j)), _mm512_set1_epi16(short(2 * j + 1)));
    s[j] = _mm512_permutexvar_epi16(idx, v);
  }
}

inline void spread16(__m256i sc16, __m512i s[4]) {  // 16 int16 scales
  const __m512i v = _mm512_castsi256_si512(sc16);
  const __m512i lane = _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12,
                                        11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i group = _mm512_srli_epi16(lane, 3);  // 8 lanes (16 values) per group
  for (int j = 0; j < 4; ++j) s[j] = _mm512_permutexvar_epi16(_mm512_add_epi16(group, _mm512_set1_epi16(short(4 * j))), v);
}

// Q4_K/Q5_K: 8 six-bit scales and mins packed in 12 bytes -> sc[0..7], m[0..7].
inline void unpack_k4(const uint8_t* packed, uint8_t out[16]) {
  uint32_t u[3];
  __builtin_memcpy(u, packed, 12);
  const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
  const uint32_t o[4] = {u[0] & m6, (u[2] & m4) | (((u[0] >> 6) & m2) << 4), u[1] & m6,
                         ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4)};
  __builtin_memcpy(out, o, 16);
}

inline void k4_scales(const uint8_t* packed, Decoded& dec) {
  alignas(16) uint8_t sm[16];
  unpack_k4(packed, sm);
  const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(sm));
  spread32(_mm_cvtepu8_epi16(v), dec.s);
  const __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(v, 8));
  const __m256i dup = _mm256_set_epi16(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  dec.m = _mm256_permutexvar_epi16(dup, _mm256_castsi128_si256(mins));
}

// Q4_K/Q5_K low nibbles: 64 qs bytes hold values [64c, 64c+128) as chunk
// 2c (bytes 0-31: low nibbles = values +0..31, high = +32..63) and 2c+1.
inline void k4_nibbles(const uint8_t* qs, __m512i w[4]) {
  for (int c = 0; c < 2; ++c) {
    const __m512i z = _mm512_loadu_si512(qs + 64 * c);
    const __m512i lo = _mm512_and_si512(z, _mm512_set1_epi8(15));
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), _mm512_set1_epi8(15));
    w[2 * c] = _mm512_shuffle_i64x2(lo, hi, _MM_SHUFFLE(1, 0, 1, 0));
    w[2 * c + 1] = _mm512_shuffle_i64x2(lo, hi, _MM_SHUFFLE(3, 2, 3, 2));
  }
}

struct Q4_K {
  using Block = BlockQ4_K;
  static void decode(const Block& b, Decoded& dec) {
    dec.d = half(reinterpret_cast<const uint8_t*>(&b.d));
    dec.dm = half(reinterpret_cast<const uint8_t*>(&b.dmin));
    k4_scales(b.scales, dec);
    k4_nibbles(b.qs, dec.w);
  }
};

struct Q5_K {
  using Block = BlockQ5_K;
  static void decode(const Block& b, Decoded& dec) {
    dec.d = half(reinterpret_cast<const uint8_t*>(&b.d));
    dec.dm = half(reinterpret_cast<const uint8_t*>(&b.dmin));
    k4_scales(b.scales, dec);
    k4_nibbles(b.qs, dec.w);
    // Bit 4 of value 32g + l is bit g of qh[l].
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh)));
    for (int j = 0; j < 4; ++j) {
      const __m512i bit = _mm512_mask_blend_epi8(0xFFFFFFFF00000000ull, _mm512_set1_epi8(char(1 << (2 * j))),
                                                 _mm512_set1_epi8(char(1 << (2 * j + 1))));
      dec.w[j] = _mm512_mask_add_epi8(dec.w[j], _mm512_test_epi8_mask(qh, bit), dec.w[j], _mm512_set1_epi8(16));
    }
  }
};

struct Q6_K {
  using Block = BlockQ6_K;
  static void decode(const Block& b, Decoded& dec) {
    dec.d = half(reinterpret_cast<const uint8_t*>(&b.d));
    dec.dm = 32.f * dec.d;  // q - 32
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
    dec.m = sc;
    spread16(sc, dec.s);
    const __m512i sh_lo = _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(4), _mm512_set1_epi16(2));
    const __m512i sh_hi = _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(0), _mm512_set1_epi16(2));
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    for (int h = 0; h < 2; ++h) {
      // Value 128h + 32s + l: low bits in ql[64h + 32(s&1) + l] (nibble s/2),
      // top bits at bits 2s of qh[32h + l].
      const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h)));
      dec.w[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, sh_lo), m30));
      dec.w[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                         _mm512_and_si512(_mm512_srlv_epi16(qh, sh_hi), m30));
    }
  }
};

template <class T>
struct KquantRows {
  template <int R>
  static void run(const Job& job, int64_t n, int64_t t) {
    const auto* w = reinterpret_cast<const typename T::Block*>(job.wrow(n));
    const int64_t nb = job.K / 256;
    __m512 accf[R];
    __m256 accm[R];
    for (int r = 0; r < R; ++r) {
      accf[r] = _mm512_setzero_ps();
      accm[r] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      Decoded dec;
      T::decode(w[b], dec);
      for (int r = 0; r < R; ++r) {
        const int8_t* a = job.acts.q(t + r) + 256 * b;
        __m512i acc = _mm512_setzero_si512();
        for (int j = 0; j < 4; ++j)
          acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(dec.w[j], _mm512_loadu_si512(a + 64 * j)), dec.s[j]);
        const float da = job.acts.d(t + r)[b];
        accf[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(dec.d * da), accf[r]);
        const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(job.acts.sums(t + r) + 16 * b));
        accm[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, dec.m)), _mm256_set1_ps(dec.dm * da), accm[r]);
      }
    }
    for (int r = 0; r < R; ++r) job.yrow(t + r)[n] = hsum(accf[r]) - hsum(accm[r]);
  }
};

template <class T>
void kquant_kernel(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1, int) {
  drive_rows_by_4<KquantRows<T>>(job, n0, n1, t0, t1);
}

// f32 / f16 / bf16 weights: converted to f32 in registers, FMA with x.
struct F32 {
  static __m512 load(const uint8_t* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
  static constexpr int kBytes = 4;
};
struct F16 {
  static __m512 load(const uint8_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
  static constexpr int kBytes = 2;
};
struct BF16 {
  static __m512 load(const uint8_t* p, __mmask16 m) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
  }
  static constexpr int kBytes = 2;
};

template <class T>
struct FloatRows {
  template <int R>
  static void run(const Job& job, int64_t n, int64_t t) {
    const uint8_t* w = job.wrow(n);
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < job.K; k += 16) {
      const __mmask16 m = job.K - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (job.K - k)) - 1);
      const __m512 wv = T::load(w + k * T::kBytes, m);
      for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, job.xrow(t + r) + k), acc[r]);
    }
    for (int r = 0; r < R; ++r) job.yrow(t + r)[n] = hsum(acc[r]);
  }
};

template <class T>
void float_kernel(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1, int) {
  drive_rows_by_4<FloatRows<T>>(job, n0, n1, t0, t1);
}

}  // namespace

}  // namespace kiln::cpu::mm::avx512

namespace kiln::cpu::mm {

KernelFn avx512_kernel(GgmlType wt) {
  using namespace avx512;
  switch (wt) {
    case GgmlType::Q4_K: return kquant_kernel<Q4_K>;
    case GgmlType::Q5_K: return kquant_kernel<Q5_K>;
    case GgmlType::Q6_K: return kquant_kernel<Q6_K>;
    case GgmlType::F32: return float_kernel<F32>;
    case GgmlType::F16: return float_kernel<F16>;
    case GgmlType::BF16: return float_kernel<BF16>;
    default: return legacy_kernel_for(wt);
  }
}

}  // namespace kiln::cpu::mm
