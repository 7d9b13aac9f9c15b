// The scalar kernels: the reference the SIMD paths are tested against, and
// the path for CPUs without AVX2. Each weight block is decoded to small
// signed integers (offsets such as Q4_0's -8 applied), dotted with the int8
// activations in exact integer arithmetic, and scaled once per block in f32,
// in the same order the SIMD kernels use per lane. Types without an int8
// route (f16, bf16, TQ1_0, TQ2_0, MXFP4) are dequantized one weight row at a
// time into the thread's row buffer and dotted in f32.
#include <cstring>

#include "backend/cpu/matmul_kernels.h"
#include "core/fp16.h"
#include "core/quant/blocks.h"
#include "core/quant/quant.h"

namespace kiln::cpu::mm {

namespace {

using namespace kiln::quant;

int dot_i8(const int8_t* v, const int8_t* a, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) s += int(v[i]) * int(a[i]);
  return s;
}

float dot_f32(const float* a, const float* b, int64_t n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0.f;
  for (; i < n; ++i) s += a[i] * b[i];
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

// ---- legacy types: one weight block = one 32-value activation block.

float block_q4_0(const BlockQ4_0& w, const int8_t* a, float da, int sum) {
  int8_t v[32];
  for (int j = 0; j < 16; ++j) {
    v[j] = int8_t((w.qs[j] & 15) - 8);
    v[j + 16] = int8_t((w.qs[j] >> 4) - 8);
  }
  return (fp16_to_fp32(w.d) * da) * float(dot_i8(v, a, 32));
}

float block_q4_1(const BlockQ4_1& w, const int8_t* a, float da, int sum) {
  int8_t v[32];
  for (int j = 0; j < 16; ++j) {
    v[j] = int8_t(w.qs[j] & 15);
    v[j + 16] = int8_t(w.qs[j] >> 4);
  }
  return (fp16_to_fp32(w.d) * da) * float(dot_i8(v, a, 32)) + (fp16_to_fp32(w.m) * da) * float(sum);
}

void decode_q5(const uint8_t* qs, const uint8_t* qh4, int offset, int8_t v[32]) {
  uint32_t qh;
  std::memcpy(&qh, qh4, 4);
  for (int j = 0; j < 16; ++j) {
    v[j] = int8_t(((qs[j] & 15) | (((qh >> j) & 1) << 4)) - offset);
    v[j + 16] = int8_t(((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - offset);
  }
}

float block_q5_0(const BlockQ5_0& w, const int8_t* a, float da, int sum) {
  int8_t v[32];
  decode_q5(w.qs, w.qh, 16, v);
  return (fp16_to_fp32(w.d) * da) * float(dot_i8(v, a, 32));
}

float block_q5_1(const BlockQ5_1& w, const int8_t* a, float da, int sum) {
  int8_t v[32];
  decode_q5(w.qs, w.qh, 0, v);
  return (fp16_to_fp32(w.d) * da) * float(dot_i8(v, a, 32)) + (fp16_to_fp32(w.m) * da) * float(sum);
}

float block_q8_0(const BlockQ8_0& w, const int8_t* a, float da, int sum) {
  return (fp16_to_fp32(w.d) * da) * float(dot_i8(w.qs, a, 32));
}

float block_iq4_nl(const BlockIQ4_NL& w, const int8_t* a, float da, int sum) {
  int8_t v[32];
  for (int j = 0; j < 16; ++j) {
    v[j] = kIq4nlValues[w.qs[j] & 15];
    v[j + 16] = kIq4nlValues[w.qs[j] >> 4];
  }
  return (fp16_to_fp32(w.d) * da) * float(dot_i8(v, a, 32));
}

// ---- K-quants: one weight super-block = one 256-value activation block;
// bs are its 16 per-16 sums.

float block_q2_k(const BlockQ2_K& w, const int8_t* a, float da, const int16_t* bs) {
  int isum = 0, imin = 0;
  for (int g = 0; g < 16; ++g) {
    // Value v = 128h + 32s + l sits in bits 2s of qs[32h + l].
    const int h = g / 8, s = (g / 2) % 4, l0 = (g % 2) * 16;
    int8_t v[16];
    for (int l = 0; l < 16; ++l) v[l] = int8_t((w.qs[32 * h + l0 + l] >> (2 * s)) & 3);
    isum += (w.scales[g] & 15) * dot_i8(v, a + 16 * g, 16);
    imin += (w.scales[g] >> 4) * bs[g];
  }
  return (fp16_to_fp32(w.d) * da) * float(isum) - (fp16_to_fp32(w.dmin) * da) * float(imin);
}

float block_q3_k(const BlockQ3_K& w, const int8_t* a, float da, const int16_t* bs) {
  int isum = 0;
  for (int g = 0; g < 16; ++g) {
    const int h = g / 8, s = (g / 2) % 4, l0 = (g % 2) * 16;
    const int low = g < 8 ? (w.scales[g] & 15) : (w.scales[g - 8] >> 4);
    const int high = (w.scales[8 + g % 4] >> (2 * (g / 4))) & 3;
    const int scale = (low | (high << 4)) - 32;
    int8_t v[16];
    for (int l = 0; l < 16; ++l) {
      const int hb = (w.hmask[l0 + l] >> (4 * h + s)) & 1;  // value index / 32 = 4h + s
      v[l] = int8_t((((w.qs[32 * h + l0 + l] >> (2 * s)) & 3) | (hb << 2)) - 4);
    }
    isum += scale * dot_i8(v, a + 16 * g, 16);
  }
  return (fp16_to_fp32(w.d) * da) * float(isum);
}

float block_q4_k(const BlockQ4_K& w, const int8_t* a, float da, const int16_t* bs) {
  int isum = 0, imin = 0;
  for (int g = 0; g < 8; ++g) {
    uint8_t sc, m;
    unpack_scale_min_k4(g, w.scales, sc, m);
    const uint8_t* q = w.qs + 32 * (g / 2);
    const int shift = 4 * (g % 2);
    int8_t v[32];
    for (int l = 0; l < 32; ++l) v[l] = int8_t((q[l] >> shift) & 15);
    isum += sc * dot_i8(v, a + 32 * g, 32);
    imin += m * (bs[2 * g] + bs[2 * g + 1]);
  }
  return (fp16_to_fp32(w.d) * da) * float(isum) - (fp16_to_fp32(w.dmin) * da) * float(imin);
}

float block_q5_k(const BlockQ5_K& w, const int8_t* a, float da, const int16_t* bs) {
  int isum = 0, imin = 0;
  for (int g = 0; g < 8; ++g) {
    uint8_t sc, m;
    unpack_scale_min_k4(g, w.scales, sc, m);
    const uint8_t* q = w.qs + 32 * (g / 2);
    const int shift = 4 * (g % 2);
    int8_t v[32];
    for (int l = 0; l < 32; ++l) v[l] = int8_t(((q[l] >> shift) & 15) | (((w.qh[l] >> g) & 1) << 4));
    isum += sc * dot_i8(v, a + 32 * g, 32);
    imin += m * (bs[2 * g] + bs[2 * g + 1]);
  }
  return (fp16_to_fp32(w.d) * da) * float(isum) - (fp16_to_fp32(w.dmin) * da) * float(imin);
}

float block_q6_k(const BlockQ6_K& w, const int8_t* a, float da, const int16_t* bs) {
  int isum = 0;
  for (int g = 0; g < 16; ++g) {
    // Value v = 128h + 32s + l: low 4 bits in ql[64h + 32(s&1) + l] (nibble
    // s/2), top 2 bits at bits 2s of qh[32h + l].
    const int h = g / 8, s = (g / 2) % 4, l0 = (g % 2) * 16;
    int8_t v[16];
    for (int l = 0; l < 16; ++l) {
      const int lo = (w.ql[64 * h + 32 * (s & 1) + l0 + l] >> (4 * (s / 2))) & 15;
      const int hi = (w.qh[32 * h + l0 + l] >> (2 * s)) & 3;
      v[l] = int8_t((lo | (hi << 4)) - 32);
    }
    isum += w.scales[g] * dot_i8(v, a + 16 * g, 16);
  }
  return (fp16_to_fp32(w.d) * da) * float(isum);
}

float block_iq4_xs(const BlockIQ4_XS& w, const int8_t* a, float da, const int16_t* bs) {
  int isum = 0;
  for (int g = 0; g < 8; ++g) {
    const int scale = (((w.scales_l[g / 2] >> (4 * (g % 2))) & 15) | (((w.scales_h >> (2 * g)) & 3) << 4)) - 32;
    int8_t v[32];
    for (int j = 0; j < 16; ++j) {
      v[j] = kIq4nlValues[w.qs[16 * g + j] & 15];
      v[j + 16] = kIq4nlValues[w.qs[16 * g + j] >> 4];
    }
    isum += scale * dot_i8(v, a + 32 * g, 32);
  }
  return (fp16_to_fp32(w.d) * da) * float(isum);
}

template <class Block, float (*BlockDot)(const Block&, const int8_t*, float, int)>
void legacy_kernel(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1, int) {
  const int64_t nb = job.K / 32;
  for (int64_t n = n0; n < n1; ++n) {
    const Block* w = reinterpret_cast<const Block*>(job.wrow(n));
    for (int64_t t = t0; t < t1; ++t) {
      const int8_t* q = job.acts.q(t);
      const float* d = job.acts.d(t);
      const int16_t* s = job.acts.sums(t);
      float acc = 0.f;
      for (int64_t b = 0; b < nb; ++b) acc += BlockDot(w[b], q + 32 * b, d[b], s[b]);
      job.yrow(t)[n] = acc;
    }
  }
}

template <class Block, float (*BlockDot)(const Block&, const int8_t*, float, const int16_t*)>
void kquant_kernel(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1, int) {
  const int64_t nb = job.K / 256;
  for (int64_t n = n0; n < n1; ++n) {
    const Block* w = reinterpret_cast<const Block*>(job.wrow(n));
    for (int64_t t = t0; t < t1; ++t) {
      const int8_t* q = job.acts.q(t);
      const float* d = job.acts.d(t);
      const int16_t* s = job.acts.sums(t);
      float acc = 0.f;
      for (int64_t b = 0; b < nb; ++b) acc += BlockDot(w[b], q + 256 * b, d[b], s + 16 * b);
      job.yrow(t)[n] = acc;
    }
  }
}

void f32_kernel(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1, int) {
  for (int64_t n = n0; n < n1; ++n) {
    const float* w = reinterpret_cast<const float*>(job.wrow(n));
    for (int64_t t = t0; t < t1; ++t) job.yrow(t)[n] = dot_f32(job.xrow(t), w, job.K);
  }
}

// Any type core/quant decodes: one row to f32, then f32 dots.
void dequantize_kernel(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1, int thread) {
  float* row = job.thread_rows + size_t(thread) * size_t(job.K);
  for (int64_t n = n0; n < n1; ++n) {
    dequantize_row(job.wt, job.wrow(n), row, job.K);
    for (int64_t t = t0; t < t1; ++t) job.yrow(t)[n] = dot_f32(job.xrow(t), row, job.K);
  }
}

}  // namespace

KernelFn scalar_kernel(GgmlType wt) {
  switch (wt) {
    case GgmlType::F32: return f32_kernel;
    case GgmlType::Q4_0: return legacy_kernel<BlockQ4_0, block_q4_0>;
    case GgmlType::Q4_1: return legacy_kernel<BlockQ4_1, block_q4_1>;
    case GgmlType::Q5_0: return legacy_kernel<BlockQ5_0, block_q5_0>;
    case GgmlType::Q5_1: return legacy_kernel<BlockQ5_1, block_q5_1>;
    case GgmlType::Q8_0: return legacy_kernel<BlockQ8_0, block_q8_0>;
    case GgmlType::IQ4_NL: return legacy_kernel<BlockIQ4_NL, block_iq4_nl>;
    case GgmlType::Q2_K: return kquant_kernel<BlockQ2_K, block_q2_k>;
    case GgmlType::Q3_K: return kquant_kernel<BlockQ3_K, block_q3_k>;
    case GgmlType::Q4_K: return kquant_kernel<BlockQ4_K, block_q4_k>;
    case GgmlType::Q5_K: return kquant_kernel<BlockQ5_K, block_q5_k>;
    case GgmlType::Q6_K: return kquant_kernel<BlockQ6_K, block_q6_k>;
    case GgmlType::IQ4_XS: return kquant_kernel<BlockIQ4_XS, block_iq4_xs>;
    default: return can_dequantize(wt) ? dequantize_kernel : nullptr;
  }
}

}  // namespace kiln::cpu::mm
