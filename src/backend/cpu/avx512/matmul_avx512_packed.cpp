// AVX-512 VNNI kernels over 16-row interleaved weights (layout in packed.h)
// for Q4_0, Q5_0 and Q8_0.
//
// Per 32-value block a group decodes into eight zmm of unsigned bytes, chunk
// c holding values 4c..4c+3 of each of the 16 rows. For each activation row
// the block's integer dots are eight vpdpbusd, each against 4 activation
// bytes broadcast from memory, started at -offset * sum(block) (offset 8, 16
// or 128, as in the row kernels); the 16 dword lanes are the 16 rows' exact
// integer dots. They are scaled by the rows' f16 scales (one vcvtph2ps per
// block, shared by the tile) times the activation block's scale and summed
// in f32, and 16 consecutive outputs are stored at once.
// A tile is up to 8 activation rows: the weight decode is paid once per 8.
#include "backend/cpu/avx512/matmul_avx512_simd.h"
#include "backend/cpu/packed.h"

namespace kiln::cpu::mm::avx512 {

namespace {

constexpr int kTile = 8;  // activation rows per pass over a group
// Software prefetch distance in the group's byte stream. With weights
// streaming from DRAM at T = 1 the hardware prefetchers alone left the Q5_0
// kernel at ~13 GB/s on one core; 1-3 KiB ahead measured 17-27 GB/s.
constexpr size_t kPrefetch = 2048;

struct P8_0 {
  static constexpr int kShift = 7;  // bias 128
  static void weights(const uint8_t* blk, __m512i w[8]) {
    for (int c = 0; c < 8; ++c) w[c] = _mm512_load_si512(blk + 64 * c);
  }
};

struct P4_0 {
  static constexpr int kShift = 3;  // offset 8
  static void weights(const uint8_t* blk, __m512i w[8]) {
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int c = 0; c < 4; ++c) {
      const __m512i z = _mm512_load_si512(blk + 64 * c);
      w[c] = _mm512_and_si512(z, m4);
      w[c + 4] = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
    }
  }
};

struct P5_0 {
  static constexpr int kShift = 4;  // offset 16
  static void weights(const uint8_t* blk, __m512i w[8]) {
    P4_0::weights(blk, w);
    // Bit c of each byte of `high` is chunk c's fifth bit: shift it to bit 4
    // (16-bit shifts by <= 4 keep bit 4 of each byte within its byte) and OR
    // it in: w | (shifted & 0x10) is ternary-logic 0xF8.
    const __m512i high = _mm512_load_si512(blk + 4 * 64);
    const __m512i b4 = _mm512_set1_epi8(16);
    w[0] = _mm512_ternarylogic_epi32(w[0], _mm512_slli_epi16(high, 4), b4, 0xF8);
    w[1] = _mm512_ternarylogic_epi32(w[1], _mm512_slli_epi16(high, 3), b4, 0xF8);
    w[2] = _mm512_ternarylogic_epi32(w[2], _mm512_slli_epi16(high, 2), b4, 0xF8);
    w[3] = _mm512_ternarylogic_epi32(w[3], _mm512_slli_epi16(high, 1), b4, 0xF8);
    w[4] = _mm512_ternarylogic_epi32(w[4], high, b4, 0xF8);
    w[5] = _mm512_ternarylogic_epi32(w[5], _mm512_srli_epi16(high, 1), b4, 0xF8);
    w[6] = _mm512_ternarylogic_epi32(w[6], _mm512_srli_epi16(high, 2), b4, 0xF8);
    w[7] = _mm512_ternarylogic_epi32(w[7], _mm512_srli_epi16(high, 3), b4, 0xF8);
  }
};

inline int32_t load32(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

template <class P, int R>
void tile(const Job& job, const PackedWeights& pw, int64_t g, int64_t t) {
  const uint8_t* grp = pw.group(g);
  const uint16_t* scales = reinterpret_cast<const uint16_t*>(grp);
  const uint8_t* blocks = grp + pw.scale_bytes();
  const size_t bb = pw.block_bytes();
  const int64_t nb = job.K / 32;
  const int8_t* q[R];
  const float* d[R];
  const int32_t* ln[R];
  __m512 acc[R];
  for (int r = 0; r < R; ++r) {
    q[r] = job.acts.q(t + r);
    d[r] = job.acts.d(t + r);
    ln[r] = job.acts.lane_negsum(t + r);
    acc[r] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; ++b) {
    __m512i w[8];
    const uint8_t* blk = blocks + size_t(b) * bb;
    if constexpr (R <= 2)  // decode: streaming; a prefill tile reuses the band from cache
      for (size_t off = 0; off < bb; off += 64) _mm_prefetch(reinterpret_cast<const char*>(blk + kPrefetch + off), _MM_HINT_T0);
    P::weights(blk, w);
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(scales + 16 * b)));
    for (int r = 0; r < R; ++r) {
      // lane_negsum holds -sum(q) of the block in its first lane.
      // Two chains of four vpdpbusd: the latency of one block's chain is what
      // limits how many blocks are in flight while weights stream from DRAM.
      __m512i dot0 = _mm512_slli_epi32(_mm512_set1_epi32(ln[r][8 * b]), P::kShift);
      __m512i dot1 = _mm512_setzero_si512();
      const int8_t* a = q[r] + 32 * b;
      for (int c = 0; c < 8; c += 2) {
        dot0 = _mm512_dpbusd_epi32(dot0, w[c], _mm512_set1_epi32(load32(a + 4 * c)));
        dot1 = _mm512_dpbusd_epi32(dot1, w[c + 1], _mm512_set1_epi32(load32(a + 4 * c + 4)));
      }
      const __m512i dot = _mm512_add_epi32(dot0, dot1);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, _mm512_set1_ps(d[r][b])), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) _mm512_storeu_ps(job.yrow(t + r) + g * PackedWeights::kRows, acc[r]);
}

template <class P>
void packed_kernel(const Job& job, int64_t g0, int64_t g1, int64_t t0, int64_t t1) {
  const PackedWeights& pw = *job.packed;
  for (int64_t t = t0; t < t1; t += kTile) {
    const int64_t r = std::min<int64_t>(kTile, t1 - t);
    for (int64_t g = g0; g < g1; ++g) {
      switch (r) {
        case 1: tile<P, 1>(job, pw, g, t); break;
        case 2: tile<P, 2>(job, pw, g, t); break;
        case 3: tile<P, 3>(job, pw, g, t); break;
        case 4: tile<P, 4>(job, pw, g, t); break;
        case 5: tile<P, 5>(job, pw, g, t); break;
        case 6: tile<P, 6>(job, pw, g, t); break;
        case 7: tile<P, 7>(job, pw, g, t); break;
        default: tile<P, 8>(job, pw, g, t); break;
      }
    }
  }
}

}  // namespace

}  // namespace kiln::cpu::mm::avx512

namespace kiln::cpu::mm {

PackedKernelFn avx512_packed_kernel(GgmlType wt) {
  using namespace avx512;
  switch (wt) {
    case GgmlType::Q4_0: return packed_kernel<P4_0>;
    case GgmlType::Q5_0: return packed_kernel<P5_0>;
    case GgmlType::Q8_0: return packed_kernel<P8_0>;
    default: return nullptr;
  }
}

}  // namespace kiln::cpu::mm
