// AVX2 kernels for the K-quants Q4_K, Q5_K, Q6_K and IQ4_XS (compiled with
// AVX2/FMA/F16C whatever the build options; matmul.cpp calls them only when
// the CPU has the features).
//
// They read the q8_256 activations (matmul_kernels.h) and compute the same
// integers as the scalar kernels, as ggml's ggml_vec_dot_q4_K_q8_K AVX2 code
// does: per 32 weights one vpmaddubsw (unsigned weights x signed int8
// activations: pairs <= 2*63*127, no saturation) then one vpmaddwd with the
// sub-block's scale broadcast to every 16-bit lane, so each dword lane holds
// an exact part of sum(scale * q * a). The offsets fold in through the
// per-16 activation sums: one vpmaddwd of the 16 sums with the minimums
// (Q4_K/Q5_K, scaled by dmin) or with the scales times 32 (Q6_K's q - 32,
// subtracted in the integers). Only the final f32 additions (one per
// super-block and dword lane, then a horizontal sum) are ordered
// differently from the scalar path.
//
// A super-block is decoded once per tile of up to 4 activation rows (the
// weights of one 64-value chunk, its two scale vectors and 4 + 4
// accumulators fit the 16 ymm registers), so prefill pays the decode once
// per 4 tokens.
#include <immintrin.h>


#include "backend/cpu/avx2/simd_avx2.h"
#include "backend/cpu/matmul_kernels.h"
#include "core/quant/blocks.h"

namespace kiln::cpu::mm::avx2 {

namespace {

using namespace kiln::quant;


inline float half(const uint16_t& h) { return _cvtsh_ss(h); }

inline __m256i load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Q4_K/Q5_K: 8 six-bit scales and mins packed in 12 bytes -> bytes 0..7 the
// scales, 8..15 the mins (the same values as unpack_scale_min_k4).
inline __m128i unpack_k4(const uint8_t* packed) {
  uint32_t u[3];
  __builtin_memcpy(u, packed, 12);
  const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
  return _mm_setr_epi32(int(u[0] & m6), int((u[2] & m4) | (((u[0] >> 6) & m2) << 4)), int(u[1] & m6),
                        int(((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4)));
}

// vpshufb pattern that broadcasts 16-bit lane g of each 128-bit half.
inline __m256i word_shuffle(int g) { return _mm256_set1_epi16(short((2 * g + 1) << 8 | (2 * g))); }

// vpshufb pattern (for 16 int8 scales) giving byte g in lanes 0-7 and byte
// g + 1 in lanes 8-15: widened to 16 bits, the scales of two groups of 16.
inline __m128i pair_shuffle(int g) {
  return _mm_setr_epi8(char(g), char(g), char(g), char(g), char(g), char(g), char(g), char(g), char(g + 1),
                       char(g + 1), char(g + 1), char(g + 1), char(g + 1), char(g + 1), char(g + 1), char(g + 1));
}

// Scales and minimums of a Q4_K/Q5_K super-block as the kernels use them.
struct K4Scales {
  __m256i sc;    // the 8 scales as int16, in both 128-bit halves
  __m256i mins;  // m0 m0 m1 m1 ... m7 m7 as int16: one per per-16 sum
};

inline K4Scales k4_scales(const uint8_t* packed) {
  const __m128i sm = unpack_k4(packed);
  return {_mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm)), _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm))};
}

// Q4_K and Q5_K (kHigh): 32 qs bytes hold values 64j + l (low nibbles) and
// 64j + 32 + l (high nibbles); Q5_K's bit 4 of value 32g + l is bit g of qh[l].
template <bool kHigh, int R>
void k4_rows(const Job& job, int64_t n, int64_t t) {
  using Block = std::conditional_t<kHigh, BlockQ5_K, BlockQ4_K>;
  const auto* w = reinterpret_cast<const Block*>(job.wrow(n));
  const int64_t nb = job.K / 256;
  const __m256i m4 = _mm256_set1_epi8(15);
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const Block& blk = w[b];
    const K4Scales s = k4_scales(blk.scales);
    const float d = half(blk.d), dmin = half(blk.dmin);
    __m256i sumi[R];
    for (int r = 0; r < R; ++r) {
      // - dmin * da * sum(m * bsum), exact in the integers.
      const __m256i bs = load(job.acts.sums(t + r) + 16 * b);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, s.mins)),
                               _mm256_set1_ps(-dmin * job.acts.d(t + r)[b]), acc[r]);
      sumi[r] = _mm256_setzero_si256();
    }
    __m256i qh;
    if constexpr (kHigh) qh = load(blk.qh);
    for (int j = 0; j < 4; ++j) {
      const __m256i q = load(blk.qs + 32 * j);
      __m256i lo = _mm256_and_si256(q, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      if constexpr (kHigh) {
        // Bits 2j and 2j + 1 of each qh byte to bit 4 (16-bit shifts move
        // no bit into another byte's bit 4 here).
        const __m256i bit4 = _mm256_set1_epi8(16);
        const __m256i h = _mm256_srli_epi16(qh, 2 * j);
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(h, 4), bit4));
        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(h, 3), bit4));
      }
      const __m256i sl = _mm256_shuffle_epi8(s.sc, word_shuffle(2 * j));
      const __m256i sh = _mm256_shuffle_epi8(s.sc, word_shuffle(2 * j + 1));
      for (int r = 0; r < R; ++r) {
        const int8_t* a = job.acts.q(t + r) + 256 * b + 64 * j;
        const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load(a)), sl);
        const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load(a + 32)), sh);
        sumi[r] = _mm256_add_epi32(sumi[r], _mm256_add_epi32(pl, ph));
      }
    }
    for (int r = 0; r < R; ++r)
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[r]), _mm256_set1_ps(d * job.acts.d(t + r)[b]), acc[r]);
  }
  for (int r = 0; r < R; ++r) job.yrow(t + r)[n] = hsum(acc[r]);
}

// Q6_K: value 128h + 32s + l has its low 4 bits in ql[64h + 32(s&1) + l]
// (nibble s/2) and its top 2 bits at bits 2s of qh[32h + l]; x = d *
// scales[g] * (q - 32) for groups g of 16.
template <int R>
void q6k_rows(const Job& job, int64_t n, int64_t t) {
  const auto* w = reinterpret_cast<const BlockQ6_K*>(job.wrow(n));
  const int64_t nb = job.K / 256;
  const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ6_K& blk = w[b];
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales));
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    __m256i sumi[R];
    // Start at -32 * sum(scale * bsum): the q - 32 offset, exact.
    for (int r = 0; r < R; ++r)
      sumi[r] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                 _mm256_slli_epi32(_mm256_madd_epi16(load(job.acts.sums(t + r) + 16 * b), sc16), 5));
    for (int h = 0; h < 2; ++h) {
      const __m256i qh = load(blk.qh + 32 * h);
      const __m256i ql0 = load(blk.ql + 64 * h), ql1 = load(blk.ql + 64 * h + 32);
      for (int s = 0; s < 4; ++s) {
        const __m256i low = _mm256_and_si256(s < 2 ? (s == 0 ? ql0 : ql1) : _mm256_srli_epi16(s == 2 ? ql0 : ql1, 4), m4);
        // Bits 2s, 2s+1 of qh to bits 4, 5 (masked before a left shift,
        // after a right one, so no bit crosses into another byte).
        __m256i top;
        if (s < 2) top = _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_slli_epi16(m2, 2 * s)), 4 - 2 * s);
        else if (s == 2) top = _mm256_and_si256(qh, _mm256_slli_epi16(m2, 4));
        else top = _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_slli_epi16(m2, 6)), 2);
        const __m256i q = _mm256_or_si256(low, top);
        const __m256i sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, pair_shuffle(8 * h + 2 * s)));
        for (int r = 0; r < R; ++r) {
          const int8_t* a = job.acts.q(t + r) + 256 * b + 128 * h + 32 * s;
          sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(_mm256_maddubs_epi16(q, load(a)), sc));
        }
      }
    }
    const float d = half(blk.d);
    for (int r = 0; r < R; ++r)
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[r]), _mm256_set1_ps(d * job.acts.d(t + r)[b]), acc[r]);
  }
  for (int r = 0; r < R; ++r) job.yrow(t + r)[n] = hsum(acc[r]);
}

// IQ4_XS: 8 groups of 32, value kIq4nlValues[q] times the group's 6-bit
// scale - 32; group g's 16 qs bytes hold values 32g + l (low nibbles) and
// 32g + 16 + l (high). Signed weights: |w| x sign(a, w) keeps vpmaddubsw's
// pairs <= 2*127*127.
template <int R>
void iq4xs_rows(const Job& job, int64_t n, int64_t t) {
  const auto* w = reinterpret_cast<const BlockIQ4_XS*>(job.wrow(n));
  const int64_t nb = job.K / 256;
  const __m256i m4 = _mm256_set1_epi8(15);
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const BlockIQ4_XS& blk = w[b];
    __m256i sumi[R];
    for (int r = 0; r < R; ++r) sumi[r] = _mm256_setzero_si256();
    for (int g = 0; g < 8; ++g) {
      const int scale = (((blk.scales_l[g / 2] >> (4 * (g % 2))) & 15) | (((blk.scales_h >> (2 * g)) & 3) << 4)) - 32;
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs + 16 * g));
      const __m256i idx = _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1), m4);
      const __m256i v = _mm256_shuffle_epi8(table, idx);
      const __m256i av = _mm256_abs_epi8(v), sc = _mm256_set1_epi16(short(scale));
      for (int r = 0; r < R; ++r) {
        const __m256i a = load(job.acts.q(t + r) + 256 * b + 32 * g);
        sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(_mm256_maddubs_epi16(av, _mm256_sign_epi8(a, v)), sc));
      }
    }
    const float d = half(blk.d);
    for (int r = 0; r < R; ++r)
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[r]), _mm256_set1_ps(d * job.acts.d(t + r)[b]), acc[r]);
  }
  for (int r = 0; r < R; ++r) job.yrow(t + r)[n] = hsum(acc[r]);
}

struct Q4K {
  template <int R>
  static void run(const Job& job, int64_t n, int64_t t) { k4_rows<false, R>(job, n, t); }
};
struct Q5K {
  template <int R>
  static void run(const Job& job, int64_t n, int64_t t) { k4_rows<true, R>(job, n, t); }
};
struct Q6K {
  template <int R>
  static void run(const Job& job, int64_t n, int64_t t) { q6k_rows<R>(job, n, t); }
};

struct IQ4XS {
  template <int R>
  static void run(const Job& job, int64_t n, int64_t t) { iq4xs_rows<R>(job, n, t); }
};

// Every weight row of the band against tiles of up to 4 activation rows.
template <class Rows>
void kernel(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1, int) {
  drive_rows_by_4<Rows>(job, n0, n1, t0, t1);
}

}  // namespace

KernelFn kquant_kernel(GgmlType wt) {
  switch (wt) {
    case GgmlType::Q4_K: return kernel<Q4K>;
    case GgmlType::Q5_K: return kernel<Q5K>;
    case GgmlType::Q6_K: return kernel<Q6K>;
    case GgmlType::IQ4_XS: return kernel<IQ4XS>;
    default: return nullptr;
  }
}

}  // namespace kiln::cpu::mm::avx2
