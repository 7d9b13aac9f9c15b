#pragma once
// Internal interface between matmul.cpp (threads, scratch, dispatch) and the
// per-ISA kernel files (matmul_scalar.cpp, avx2/, avx512/).
//
// Quantized activations ("acts") are stored one row after another in the
// scratch block, each row `row_bytes` apart and laid out as
//   int8  q[K]            round(x / d) in [-127, 127]
//   float d[K / B]        per-block scale ~amax / 127 (B = 32 or 256; act_scale)
//   int16 sums[K / S]     per-group sums of q (S = 32 for the legacy types,
//                         16 for the K-quants: the "bsums" of ggml's Q8_K)
// and, for the legacy types only, two arrays the SIMD kernels load as whole
// vectors (at a 64-byte boundary), one 8-lane slot per 32-value block, lined
// up with the 8 dword lanes vpdpbusd produces for that block:
//   float lane_d[K / 32][8]     d of the block in every lane
//   int32 lane_negsum[K / 32][8] -sum(q) of the block in lane 0, zeros after
// so a kernel starts a block's integer accumulator at -offset * sum(q) (Q4_0's
// -8, Q5_0's -16, Q8_0's -128 after its weights are biased to unsigned).
// Every kernel of every ISA reads this one format, and the quantizer is the
// same code for all of them, so the integer results agree bit for bit.
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/fp16.h"

namespace kiln::cpu {
class PackedWeights;
}

namespace kiln::cpu::mm {

enum class ActFormat {
  none,     // weights in f32/f16/bf16 (or decoded to f32): x used as is
  q8_32,    // 32-value blocks, sums per 32
  q8_256,   // 256-value blocks, sums per 16
};

ActFormat act_format(GgmlType wt);

struct Acts {
  uint8_t* base = nullptr;
  size_t row_bytes = 0;
  int64_t K = 0;
  int block = 32;     // values per scale
  int sum_group = 32; // values per sum

  int8_t* q(int64_t t) const { return reinterpret_cast<int8_t*>(base + size_t(t) * row_bytes); }
  float* d(int64_t t) const { return reinterpret_cast<float*>(base + size_t(t) * row_bytes + size_t(K)); }
  int16_t* sums(int64_t t) const {
    return reinterpret_cast<int16_t*>(base + size_t(t) * row_bytes + size_t(K) + 4 * size_t(K / block));
  }
  // Legacy types only (block == 32).
  float* lane_d(int64_t t) const { return reinterpret_cast<float*>(base + size_t(t) * row_bytes + lanes_offset()); }
  int32_t* lane_negsum(int64_t t) const {
    return reinterpret_cast<int32_t*>(base + size_t(t) * row_bytes + lanes_offset() + lane_bytes());
  }
  size_t lane_bytes() const { return (size_t(K) + 63) / 64 * 64; }  // 32 bytes per block, padded
  size_t lanes_offset() const { return (size_t(K) + 6 * size_t(K / 32) + 63) / 64 * 64; }
};

// Bytes of one quantized activation row (64-byte multiple).
size_t act_row_bytes(ActFormat f, int64_t K);
Acts make_acts(ActFormat f, int64_t K, void* base);

// The scale d of one quantized activation block of B values with largest
// magnitude amax (id = 127 / amax), rounded where ggml's CPU backend rounds
// it, so that kiln's block products equal llama.cpp's: a Q8_0 block (B = 32,
// quantize_row_q8_0) keeps amax / 127 as an f16; a Q8_K block (B = 256,
// quantize_row_q8_K) keeps 1 / id in f32. A zero block has d = 0.
inline float act_scale(int B, float amax, float id) {
  if (!(amax > 0.f)) return 0.f;
  return B == 32 ? fp16_to_fp32(fp32_to_fp16(amax / 127.f)) : 1.f / id;
}

// Quantizes row t of acts from x (K values). Identical on every ISA: the
// scale is act_scale() and q = nearbyint(x * (127 / amax)), ties to even.
void quantize_act_row(const float* x, const Acts& acts, int64_t t);
// The same bytes with AVX-512 (avx512/vec_avx512.cpp) and AVX2
// (avx2/quantize_act_avx2.cpp).
void quantize_act_row_avx512(const float* x, const Acts& acts, int64_t t);
void quantize_act_row_avx2(const float* x, const Acts& acts, int64_t t);

// One matmul as the kernels see it.
struct Job {
  GgmlType wt;
  int64_t K;
  const uint8_t* w;   // weight row 0
  size_t w_stride;    // bytes
  const float* x;     // f32 activations (float paths)
  size_t x_stride;    // bytes
  Acts acts;          // quantized activations (int paths)
  float* y;
  size_t y_stride;    // bytes
  float* thread_rows; // K floats per thread (the dequantize fallback)
  // interleave_bytes(wt, K) bytes per thread, 64-byte aligned (the AVX2
  // prefill path decodes a group of weight rows into it); null when 0.
  uint8_t* thread_pack = nullptr;
  size_t thread_pack_bytes = 0;
  const PackedWeights* packed = nullptr;  // rows below packed->packed_rows() read from here

  const uint8_t* wrow(int64_t n) const { return w + size_t(n) * w_stride; }
  const float* xrow(int64_t t) const {
    return reinterpret_cast<const float*>(reinterpret_cast<const uint8_t*>(x) + size_t(t) * x_stride);
  }
  float* yrow(int64_t t) const { return reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(y) + size_t(t) * y_stride); }
};

// Calls Rows::template run<R>(job, n, t) for every weight row of the band
// and every group of up to 4 activation rows (R = 1..4): a weight row is
// decoded once per group, so prefill pays the decode once per 4 tokens.
// ISA-neutral: the AVX2 and AVX-512 kernel files drive their row kernels
// with it.
template <class Rows>
void drive_rows_by_4(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1) {
  for (int64_t t = t0; t < t1; t += 4) {
    const int64_t r = t1 - t < 4 ? t1 - t : 4;
    for (int64_t n = n0; n < n1; ++n) {
      switch (r) {
        case 1: Rows::template run<1>(job, n, t); break;
        case 2: Rows::template run<2>(job, n, t); break;
        case 3: Rows::template run<3>(job, n, t); break;
        default: Rows::template run<4>(job, n, t); break;
      }
    }
  }
}

// Bytes of the per-thread buffer in which the AVX2 kernels decode a group
// of 8 weight rows of a 32-value block type for prefill (matmul_avx2.cpp):
// per block 8 f32 scales and 8 x 32 values; 0 for the other types.
size_t interleave_bytes(GgmlType wt, int64_t K);

// Computes y[t][n] for t in [t0, t1), n in [n0, n1). `thread` indexes
// thread_rows.
using KernelFn = void (*)(const Job& job, int64_t n0, int64_t n1, int64_t t0, int64_t t1, int thread);

// The kernel of one ISA for weight type wt, or nullptr when that ISA has no
// kernel of its own for wt (matmul.cpp then falls back to a lower ISA).
KernelFn scalar_kernel(GgmlType wt);
KernelFn avx2_kernel(GgmlType wt);
KernelFn avx512_kernel(GgmlType wt);

// Kernels over packed weights (packed.h): y[t][n] for t in [t0, t1) and the
// rows of groups [g0, g1) of job.packed. AVX-512 VNNI only; nullptr for a
// type without a packed kernel.
using PackedKernelFn = void (*)(const Job& job, int64_t g0, int64_t g1, int64_t t0, int64_t t1);
PackedKernelFn avx512_packed_kernel(GgmlType wt);

}  // namespace kiln::cpu::mm
