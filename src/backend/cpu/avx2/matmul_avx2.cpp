// AVX2 kernels (compiled with AVX2/FMA/F16C flags whatever the build options;
// matmul.cpp calls them only when the CPU has the features): the 32-value
// block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL and f32/f16 rows here, the
// K-quants in matmul_avx2_kquants.cpp. Other types fall back to the scalar
// kernels.
//
// One block per ymm: vpmaddubsw (unsigned weights x signed activations, pair
// sums <= 2*31*127 for Q5_0, no saturation) then vpmaddwd with ones gives 8
// exact dword partial dots, started at -offset*sum(q) as in the AVX-512 path.
// Q8_0's signed weights would overflow vpmaddubsw's pairs once biased to
// unsigned, so it uses |w| x sign(a, w) instead (pairs <= 2*128*127), as does
// IQ4_NL after its table lookup (vpshufb). Q4_1/Q5_1's minimum m adds
// m * da * sum(q) through the lane_negsum slot (-sum(q) in lane 0).
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "backend/cpu/avx2/simd_avx2.h"
#include "backend/cpu/matmul_kernels.h"
#include "core/quant/blocks.h"

namespace kiln::cpu::mm {

namespace avx2 {
KernelFn kquant_kernel(GgmlType wt);  // matmul_avx2_kquants.cpp
}

namespace {

using namespace kiln::quant;
using avx2::hsum;

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
  static constexpr bool kMin = false;
  static __m256i dot(const Block& b, __m256i a) { return _mm256_maddubs_epi16(nibbles(b.qs), a); }
  static __m256i values(const Block& b) { return nibbles(b.qs); }
};

// The 5-bit values of a Q5_0/Q5_1 block (unsigned, 0..31).
template <class Block>
inline __m256i five_bits(const Block& b) {
  uint32_t h;
  __builtin_memcpy(&h, b.qh, 4);
  return _mm256_or_si256(nibbles(b.qs), _mm256_and_si256(bytes_from_bits(h), _mm256_set1_epi8(16)));
}

struct Q5_0 {
  using Block = BlockQ5_0;
  static constexpr int kShift = 4;
  static constexpr bool kMin = false;
  static __m256i dot(const Block& b, __m256i a) { return _mm256_maddubs_epi16(five_bits(b), a); }
  static __m256i values(const Block& b) { return five_bits(b); }
};

// y += d * da * sum(q * a) + m * da * sum(a).
struct Q4_1 {
  using Block = BlockQ4_1;
  static constexpr int kShift = -1;
  static constexpr bool kMin = true;
  static __m256i dot(const Block& b, __m256i a) { return _mm256_maddubs_epi16(nibbles(b.qs), a); }
};

struct Q5_1 {
  using Block = BlockQ5_1;
  static constexpr int kShift = -1;
  static constexpr bool kMin = true;
  static __m256i dot(const Block& b, __m256i a) { return _mm256_maddubs_epi16(five_bits(b), a); }
};

struct IQ4_NL {
  using Block = BlockIQ4_NL;
  static constexpr int kShift = -1;
  static constexpr bool kMin = false;
  static __m256i dot(const Block& b, __m256i a) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    const __m256i w = _mm256_shuffle_epi8(table, nibbles(b.qs));
    return _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w));
  }
};

struct Q8_0 {
  using Block = BlockQ8_0;
  static constexpr int kShift = -1;  // no offset
  static constexpr bool kMin = false;
  static __m256i dot(const Block& b, __m256i a) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
    return _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w));
  }
  static __m256i values(const Block& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }
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
      __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(d), ws);
      if constexpr (T::kMin)
        f = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_load_si256(
                                 reinterpret_cast<const __m256i*>(job.acts.lane_negsum(t + r) + 8 * b))),
                             _mm256_set1_ps(half(&w[b].m)), f);
      acc[r] = _mm256_fmadd_ps(f, _mm256_load_ps(job.acts.lane_d(t + r) + 8 * b), acc[r]);
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

// ---- Prefill over interleaved rows (Q4_0, Q5_0, Q8_0).
//
// In the row layout every (weight row, activation row, block) triple ends in
// its own vpmaddwd, int->float conversion and scale multiply-add, ~7
// instructions per 32 products. For several activation rows the kernel
// instead decodes a group of 8 weight rows once into the thread's buffer,
// block by block: 8 f32 scales, then 8 chunks of 32 bytes, chunk c holding
// values 4c..4c+3 of each row (row r in bytes 4r..4r+3). One vpmaddubsw of
// a chunk against 4 activation bytes broadcast to every dword advances all
// 8 rows, the dword lanes are the rows' dots, and the conversion and scaling
// are shared by 8 outputs (~22 instructions per 256 products). Unsigned
// values (Q4_0, Q5_0: <= 31) let four vpmaddubsw results add in 16 bits
// (4 * 2 * 31 * 127 < 2^15) before one vpmaddwd; Q8_0's signed values go
// through |w| x sign(a, w), one vpmaddwd each.
// The integers are the scalar kernel's, and each output takes
// acc + (dw * da) * dot in the scalar kernel's order (no FMA), so the
// results equal the scalar path bit for bit.
constexpr int kGroup = 8;           // weight rows per interleaved group
constexpr int kGroupBlockBytes = kGroup * 4 + kGroup * 32;
constexpr int64_t kInterleaveMinRows = 4;  // fewer activation rows: decode in registers

// 8x8 transpose of dwords: v[r] dword c -> v[c] dword r.
inline void transpose8x8(__m256i v[8]) {
  __m256i t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h) {  // rows 4h .. 4h+3
    u[4 * h + 0] = _mm256_unpacklo_epi64(t[4 * h], t[4 * h + 2]);
    u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h], t[4 * h + 2]);
    u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
    u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    v[c] = _mm256_permute2x128_si256(u[c], u[c + 4], 0x20);
    v[c + 4] = _mm256_permute2x128_si256(u[c], u[c + 4], 0x31);
  }
}

template <class T>
void interleave_group(const Job& job, int64_t n, uint8_t* buf) {
  const int64_t nb = job.K / 32;
  const typename T::Block* w[kGroup];
  for (int r = 0; r < kGroup; ++r) w[r] = reinterpret_cast<const typename T::Block*>(job.wrow(n + r));
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* blk = buf + size_t(b) * kGroupBlockBytes;
    alignas(16) uint16_t d[kGroup];
    __m256i v[kGroup];
    for (int r = 0; r < kGroup; ++r) {
      d[r] = w[r][b].d;
      v[r] = T::values(w[r][b]);
    }
    _mm256_store_ps(reinterpret_cast<float*>(blk), _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(d))));
    transpose8x8(v);
    for (int c = 0; c < 8; ++c) _mm256_store_si256(reinterpret_cast<__m256i*>(blk + 32 + 32 * c), v[c]);
  }
}

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Where a group's decoded blocks come from: the thread's buffer (prefill,
// decoded once per task) or straight from the 8 GGUF rows, decoded and
// transposed in registers (decode, T < 4: no buffer round trip).
struct Buffered {
  const uint8_t* buf;
  void block(int64_t b, __m256& dw, __m256i w[8]) const {
    const uint8_t* blk = buf + size_t(b) * kGroupBlockBytes;
    dw = _mm256_load_ps(reinterpret_cast<const float*>(blk));
    for (int c = 0; c < 8; ++c) w[c] = _mm256_load_si256(reinterpret_cast<const __m256i*>(blk + 32 + 32 * c));
  }
};

template <class T>
struct Direct {
  const typename T::Block* rows[kGroup];
  size_t next_group;  // bytes from a row to the same row of the next group
  Direct(const Job& job, int64_t n) : next_group(kGroup * job.w_stride) {
    for (int r = 0; r < kGroup; ++r) rows[r] = reinterpret_cast<const typename T::Block*>(job.wrow(n + r));
  }
  void block(int64_t b, __m256& dw, __m256i w[8]) const {
    __m128i d = _mm_setzero_si128();
    d = _mm_insert_epi16(d, rows[0][b].d, 0);
    d = _mm_insert_epi16(d, rows[1][b].d, 1);
    d = _mm_insert_epi16(d, rows[2][b].d, 2);
    d = _mm_insert_epi16(d, rows[3][b].d, 3);
    d = _mm_insert_epi16(d, rows[4][b].d, 4);
    d = _mm_insert_epi16(d, rows[5][b].d, 5);
    d = _mm_insert_epi16(d, rows[6][b].d, 6);
    d = _mm_insert_epi16(d, rows[7][b].d, 7);
    dw = _mm256_cvtph_ps(d);
    // Eight short row streams defeat the hardware prefetcher: fetch the
    // same block of the next group's rows (one group, ~8 row lengths, ahead).
    for (int r = 0; r < kGroup; ++r)
      _mm_prefetch(reinterpret_cast<const char*>(rows[r] + b) + next_group, _MM_HINT_T0);
    for (int r = 0; r < kGroup; ++r) w[r] = T::values(rows[r][b]);
    transpose8x8(w);
  }
};

template <class T, int R, class Src>
void group_rows(const Job& job, const Src& src, int64_t n, int64_t t) {
  const int64_t nb = job.K / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256 dw;
    __m256i w[8];
    src.block(b, dw, w);
    for (int r = 0; r < R; ++r) {
      const int8_t* a = job.acts.q(t + r) + 32 * b;
      __m256i dot;
      if constexpr (T::kShift >= 0) {
        __m256i s0 = _mm256_maddubs_epi16(w[0], bcast4(a));
        __m256i s1 = _mm256_maddubs_epi16(w[4], bcast4(a + 16));
        for (int c = 1; c < 4; ++c) {
          s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(w[c], bcast4(a + 4 * c)));
          s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(w[c + 4], bcast4(a + 16 + 4 * c)));
        }
        // - offset * sum(block of a): lane_negsum's first lane holds -sum.
        dot = _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(s0, ones), _mm256_madd_epi16(s1, ones)),
                               _mm256_set1_epi32(job.acts.lane_negsum(t + r)[8 * b] << T::kShift));
      } else {
        dot = _mm256_setzero_si256();
        for (int c = 0; c < 8; ++c) {
          const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w[c]), _mm256_sign_epi8(bcast4(a + 4 * c), w[c]));
          dot = _mm256_add_epi32(dot, _mm256_madd_epi16(p, ones));
        }
      }
      const __m256 s = _mm256_mul_ps(dw, _mm256_set1_ps(job.acts.d(t + r)[b]));
      acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(s, _mm256_cvtepi32_ps(dot)));
    }
  }
  for (int r = 0; r < R; ++r) _mm256_storeu_ps(job.yrow(t + r) + n, acc[r]);
}

template <class T, class Src>
void group_tiles(const Job& job, const Src& src, int64_t n, int64_t t0, int64_t t1) {
  for (int64_t t = t0; t < t1; t += 4) {
    switch (std::min<int64_t>(4, t1 - t)) {
      case 1: group_rows<T, 1>(job, src, n, t); break;
      case 2: group_rows<T, 2>(job, src, n, t); break;
      case 3: group_rows<T, 3>(job, src, n, t); break;
      default: group_rows<T, 4>(job, src, n, t); break;
    }
  }
}

template <class T>
constexpr bool kInterleaves = std::is_same_v<T, Q4_0> || std::is_same_v<T, Q5_0> || std::is_same_v<T, Q8_0>;

// Groups of 8 weight rows of [n0, n1) against every activation row of
// [t0, t1), through the buffer when the decode is shared by >= 4 activation
// rows, else decoded in registers; returns the first row it did not cover.
template <class T>
int64_t interleaved(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1, int thread) {
  const bool buffered = t1 - t0 >= kInterleaveMinRows && job.thread_pack;
  uint8_t* buf = buffered ? job.thread_pack + size_t(thread) * job.thread_pack_bytes : nullptr;
  int64_t n = n0;
  for (; n + kGroup <= n1; n += kGroup) {
    if (buffered) {
      interleave_group<T>(job, n, buf);
      group_tiles<T>(job, Buffered{buf}, n, t0, t1);
    } else {
      group_tiles<T>(job, Direct<T>(job, n), n, t0, t1);
    }
  }
  return n;
}

inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// Single-row kernel for the last N % 8 rows of the interleaved types: each
// block's integer dot reduced to one int and added as the scalar kernel
// adds it, acc += (dw * da) * dot, the same bits as the group kernels, so a
// token's outputs do not depend on T or on where a band starts.
template <class T, int R>
void exact_rows(const Job& job, int64_t n, int64_t t) {
  const auto* w = reinterpret_cast<const typename T::Block*>(job.wrow(n));
  const int64_t nb = job.K / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  float acc[R] = {};
  for (int64_t b = 0; b < nb; ++b) {
    const float dw = half(&w[b].d);
    for (int r = 0; r < R; ++r) {
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(job.acts.q(t + r) + 32 * b));
      int dot = hsum_i32(_mm256_madd_epi16(T::dot(w[b], a), ones));
      if constexpr (T::kShift >= 0) dot -= job.acts.sums(t + r)[b] * (1 << T::kShift);
      acc[r] += (dw * job.acts.d(t + r)[b]) * float(dot);
    }
  }
  for (int r = 0; r < R; ++r) job.yrow(t + r)[n] = acc[r];
}

// Weight row decoded once per tile of up to 4 activation rows.
template <class T, bool kFloat, int R>
void rows(const Job& job, int64_t n, int64_t t) {
  if constexpr (kFloat) float_rows<T, R>(job, n, t);
  else if constexpr (kInterleaves<T>) exact_rows<T, R>(job, n, t);
  else legacy_rows<T, R>(job, n, t);
}

template <class T, bool kFloat>
void kernel(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1, int thread) {
  if constexpr (!kFloat && kInterleaves<T>) n0 = interleaved<T>(job, n0, n1, t0, t1, thread);
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
    case GgmlType::Q4_1: return kernel<Q4_1, false>;
    case GgmlType::Q5_0: return kernel<Q5_0, false>;
    case GgmlType::Q5_1: return kernel<Q5_1, false>;
    case GgmlType::IQ4_NL: return kernel<IQ4_NL, false>;
    case GgmlType::Q8_0: return kernel<Q8_0, false>;
    case GgmlType::F32: return kernel<F32, true>;
    case GgmlType::F16: return kernel<F16, true>;
    default: return avx2::kquant_kernel(wt);
  }
}

}  // namespace kiln::cpu::mm
