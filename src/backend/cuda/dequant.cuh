#pragma once
// Device-side dequantization of GGUF block formats, eight values at a time:
// dequant8<T>(row, i, out) writes values [8i, 8i + 8) of a row. Every format's
// block holds a multiple of 8 values and no 8-value run straddles a group with
// another scale, so one call decodes one scale. The arithmetic repeats
// core/quant/dequantize.cpp term by term with explicit round-to-nearest
// intrinsics (no fused multiply-add), so results are bit-identical to the
// CPU's: get_rows is exact and the matmuls see the same weights.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "core/dtype.h"

namespace kiln::cuda {

__device__ __forceinline__ float f16_at(const uint8_t* p) {
  __half h;
  uint16_t bits = uint16_t(p[0]) | uint16_t(p[1]) << 8;  // blocks are not 2-byte aligned in general
  h = __ushort_as_half(bits);
  return __half2float(h);
}

__device__ __forceinline__ void get_scale_min_k4(int j, const uint8_t* q, float& d, float& m) {
  if (j < 4) {
    d = float(q[j] & 63);
    m = float(q[j + 4] & 63);
  } else {
    d = float((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = float((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

template <GgmlType T>
struct Format;

// Plain and legacy (32-value) formats.
template <>
struct Format<GgmlType::F32> {
  static constexpr int kValues = 1, kBytes = 4;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const float4* p = reinterpret_cast<const float4*>(row) + 2 * i;
    const float4 a = p[0], b = p[1];
    out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w, out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
  }
};
template <>
struct Format<GgmlType::F16> {
  static constexpr int kValues = 1, kBytes = 2;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const uint4 v = reinterpret_cast<const uint4*>(row)[i];
    const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 f = __half22float2(h[j]);
      out[2 * j] = f.x, out[2 * j + 1] = f.y;
    }
  }
};
template <>
struct Format<GgmlType::BF16> {
  static constexpr int kValues = 1, kBytes = 2;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const uint4 v = reinterpret_cast<const uint4*>(row)[i];
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      out[2 * j] = __uint_as_float(w[j] << 16);
      out[2 * j + 1] = __uint_as_float(w[j] & 0xFFFF0000u);
    }
  }
};
template <>
struct Format<GgmlType::Q4_0> {
  static constexpr int kValues = 32, kBytes = 18;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const uint8_t* b = row + (i / 4) * kBytes;
    const int j0 = int(i % 4) * 8;
    const float d = f16_at(b);
    const uint8_t* qs = b + 2;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int v = j0 + j;
      const int q = v < 16 ? (qs[v] & 0xF) : (qs[v - 16] >> 4);
      out[j] = __fmul_rn(float(q - 8), d);
    }
  }
};
template <>
struct Format<GgmlType::Q4_1> {
  static constexpr int kValues = 32, kBytes = 20;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const uint8_t* b = row + (i / 4) * kBytes;
    const int j0 = int(i % 4) * 8;
    const float d = f16_at(b), m = f16_at(b + 2);
    const uint8_t* qs = b + 4;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int v = j0 + j;
      const int q = v < 16 ? (qs[v] & 0xF) : (qs[v - 16] >> 4);
      out[j] = __fadd_rn(__fmul_rn(float(q), d), m);
    }
  }
};
__device__ __forceinline__ uint32_t load_u32_unaligned(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
template <>
struct Format<GgmlType::Q5_0> {
  static constexpr int kValues = 32, kBytes = 22;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const uint8_t* b = row + (i / 4) * kBytes;
    const int j0 = int(i % 4) * 8;
    const float d = f16_at(b);
    const uint32_t qh = load_u32_unaligned(b + 2);
    const uint8_t* qs = b + 6;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int v = j0 + j;  // the fifth bit of value v is bit v of qh
      const int q = (v < 16 ? (qs[v] & 0xF) : (qs[v - 16] >> 4)) | int((qh >> v) & 1) << 4;
      out[j] = __fmul_rn(float(q - 16), d);
    }
  }
};
template <>
struct Format<GgmlType::Q5_1> {
  static constexpr int kValues = 32, kBytes = 24;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const uint8_t* b = row + (i / 4) * kBytes;
    const int j0 = int(i % 4) * 8;
    const float d = f16_at(b), m = f16_at(b + 2);
    const uint32_t qh = load_u32_unaligned(b + 4);
    const uint8_t* qs = b + 8;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int v = j0 + j;
      const int q = (v < 16 ? (qs[v] & 0xF) : (qs[v - 16] >> 4)) | int((qh >> v) & 1) << 4;
      out[j] = __fadd_rn(__fmul_rn(float(q), d), m);
    }
  }
};
template <>
struct Format<GgmlType::Q8_0> {
  static constexpr int kValues = 32, kBytes = 34;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const uint8_t* b = row + (i / 4) * kBytes;
    const float d = f16_at(b);
    const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2) + int(i % 4) * 8;
#pragma unroll
    for (int j = 0; j < 8; ++j) out[j] = __fmul_rn(float(qs[j]), d);
  }
};

// K-quants: 256-value super-blocks.
template <>
struct Format<GgmlType::Q2_K> {
  static constexpr int kValues = 256, kBytes = 84;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const uint8_t* b = row + (i / 32) * kBytes;
    const int v0 = int(i % 32) * 8;
    const int half = v0 / 128, w = v0 % 128, shift_i = w / 32, l0 = w % 32;
    const uint8_t sc = b[half * 8 + shift_i * 2 + l0 / 16];
    const float d = f16_at(b + 80), dmin = f16_at(b + 82);
    const float dl = __fmul_rn(d, float(sc & 0xF)), ml = __fmul_rn(dmin, float(sc >> 4));
    const uint8_t* q = b + 16 + half * 32 + l0;
#pragma unroll
    for (int j = 0; j < 8; ++j) out[j] = __fsub_rn(__fmul_rn(dl, float((q[j] >> (2 * shift_i)) & 3)), ml);
  }
};
template <>
struct Format<GgmlType::Q3_K> {
  static constexpr int kValues = 256, kBytes = 110;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const uint8_t* b = row + (i / 32) * kBytes;
    const int v0 = int(i % 32) * 8;
    const int half = v0 / 128, w = v0 % 128, shift_i = w / 32, l0 = w % 32;
    const int group = half * 8 + shift_i * 2 + l0 / 16;
    const uint8_t* packed = b + 96;
    const int low = group < 8 ? (packed[group] & 0xF) : (packed[group - 8] >> 4);
    const int high = (packed[8 + group % 4] >> (2 * (group / 4))) & 3;
    const float dl = __fmul_rn(f16_at(b + 108), float((low | (high << 4)) - 32));
    const uint8_t high_bit = uint8_t(1u << (half * 4 + shift_i));
    const uint8_t* hmask = b + l0;
    const uint8_t* q = b + 32 + half * 32 + l0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int v = ((q[j] >> (2 * shift_i)) & 3) - ((hmask[j] & high_bit) ? 0 : 4);
      out[j] = __fmul_rn(dl, float(v));
    }
  }
};
// Q4_K blocks are 144 bytes (a multiple of 16) and weights start 256-byte
// aligned, so the scales and quants load as whole words: this is the format
// of most Q4_K_M weights, and byte loads would make decode instruction-bound.
template <>
struct Format<GgmlType::Q4_K> {
  static constexpr int kValues = 256, kBytes = 144;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const uint8_t* b = row + (i / 32) * kBytes;
    const int v0 = int(i % 32) * 8;
    const int pair = v0 / 64, w = v0 % 64, hi = w / 32, l0 = w % 32;
    const uint32_t dm = *reinterpret_cast<const uint32_t*>(b);
    const uint32_t* sw = reinterpret_cast<const uint32_t*>(b + 4);
    const uint32_t s0 = sw[0], s1 = sw[1], s2 = sw[2];
    // Byte k of the 12 scale bytes, by selects (a local array indexed at run
    // time would live in slow local memory).
    auto byte_at = [&](int k) -> int {
      const uint32_t word = k < 4 ? s0 : (k < 8 ? s1 : s2);
      return int((word >> (8 * (k & 3))) & 0xFF);
    };
    const int j = 2 * pair + hi;
    float sc, m;
    if (j < 4) {
      sc = float(byte_at(j) & 63);
      m = float(byte_at(j + 4) & 63);
    } else {
      sc = float((byte_at(j + 4) & 0xF) | ((byte_at(j - 4) >> 6) << 4));
      m = float((byte_at(j + 4) >> 4) | ((byte_at(j) >> 6) << 4));
    }
    const float d = __half2float(__ushort_as_half(uint16_t(dm & 0xFFFF)));
    const float dmin = __half2float(__ushort_as_half(uint16_t(dm >> 16)));
    const float d1 = __fmul_rn(d, sc), m1 = __fmul_rn(dmin, m);
    const uint2 qw = *reinterpret_cast<const uint2*>(b + 16 + pair * 32 + l0);
    const uint32_t q4[2] = {qw.x, qw.y};
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const uint32_t byte = (q4[k / 4] >> (8 * (k % 4))) & 0xFF;
      out[k] = __fsub_rn(__fmul_rn(d1, float(hi ? (byte >> 4) : (byte & 0xF))), m1);
    }
  }
};
template <>
struct Format<GgmlType::Q5_K> {
  static constexpr int kValues = 256, kBytes = 176;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const uint8_t* b = row + (i / 32) * kBytes;
    const int v0 = int(i % 32) * 8;
    const int pair = v0 / 64, w = v0 % 64, hi = w / 32, l0 = w % 32;
    const int group = 2 * pair + hi;
    float sc, m;
    get_scale_min_k4(group, b + 4, sc, m);
    const float d1 = __fmul_rn(f16_at(b), sc), m1 = __fmul_rn(f16_at(b + 2), m);
    const uint8_t* qh = b + 16 + l0;
    const uint8_t* q = b + 48 + pair * 32 + l0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int v = (hi ? (q[j] >> 4) : (q[j] & 0xF)) | (((qh[j] >> group) & 1) << 4);
      out[j] = __fsub_rn(__fmul_rn(d1, float(v)), m1);
    }
  }
};
template <>
struct Format<GgmlType::Q6_K> {
  static constexpr int kValues = 256, kBytes = 210;
  __device__ static void dequant8(const uint8_t* row, int64_t i, float* out) {
    const uint8_t* b = row + (i / 32) * kBytes;
    const int v0 = int(i % 32) * 8;
    const int half = v0 / 128, w = v0 % 128, quad = w / 32, l0 = w % 32;
    const uint8_t* ql = b + half * 64 + (quad & 1) * 32 + l0;
    const uint8_t* qh = b + 128 + half * 32 + l0;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + half * 8;
    const float ds = __fmul_rn(f16_at(b + 208), float(sc[l0 / 16 + 2 * quad]));
    const int lshift = quad >= 2 ? 4 : 0, hshift = 2 * quad;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int q = (((ql[j] >> lshift) & 0xF) | (((qh[j] >> hshift) & 3) << 4)) - 32;
      out[j] = __fmul_rn(ds, float(q));
    }
  }
};

// Calls f.template operator()<T>() for a weight type the kernels support;
// returns false for any other type.
template <class F>
bool dispatch_type(GgmlType t, F&& f) {
  switch (t) {
    case GgmlType::F32: f.template operator()<GgmlType::F32>(); return true;
    case GgmlType::F16: f.template operator()<GgmlType::F16>(); return true;
    case GgmlType::BF16: f.template operator()<GgmlType::BF16>(); return true;
    case GgmlType::Q4_0: f.template operator()<GgmlType::Q4_0>(); return true;
    case GgmlType::Q4_1: f.template operator()<GgmlType::Q4_1>(); return true;
    case GgmlType::Q5_0: f.template operator()<GgmlType::Q5_0>(); return true;
    case GgmlType::Q5_1: f.template operator()<GgmlType::Q5_1>(); return true;
    case GgmlType::Q8_0: f.template operator()<GgmlType::Q8_0>(); return true;
    case GgmlType::Q2_K: f.template operator()<GgmlType::Q2_K>(); return true;
    case GgmlType::Q3_K: f.template operator()<GgmlType::Q3_K>(); return true;
    case GgmlType::Q4_K: f.template operator()<GgmlType::Q4_K>(); return true;
    case GgmlType::Q5_K: f.template operator()<GgmlType::Q5_K>(); return true;
    case GgmlType::Q6_K: f.template operator()<GgmlType::Q6_K>(); return true;
    default: return false;
  }
}

}  // namespace kiln::cuda
