// Decode mat-vec on int8 activations (llama.cpp's "mmvq" idea): the step's
// activation rows are quantized once to 32-value blocks (int8 + an f32
// scale), and each weight block is multiplied with __dp4a four values at a
// time in integers, its scales applied once per 16-32 values. Compared with
// matvec.cu (f32 activations, every weight value converted to float) this
// reads 4x fewer activation bytes per weight byte and spends far fewer
// instructions per value, so the kernel waits on weight bytes, as decode
// should.
//
// Work split: a warp per output row; the row's blocks are cut into "tasks"
// (Q4_K: 8 per block of 256, 16 quant bytes each, loaded as one 16-byte
// word; Q6_K: 4 per block, 64 values; Q8_0: one block); lane l takes tasks
// l, l+32, ... so a warp's lanes read neighbouring bytes, and several tasks'
// loads are in flight per lane. The task's weights are loaded once and used
// for every token row of the launch (T <= 8 for one launch; batched decode
// steps of up to 64 rows run as launches over chunks of 8, 16 or 32 rows).
//
// Error: activations carry int8 rounding (relative ~1/254 of each block's
// largest value), as in the CPU backend's integer kernels and llama.cpp.
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "backend/cuda/common.cuh"
#include "backend/cuda/kernels.h"

namespace kiln::cuda {

namespace {

constexpr int kWarps = 4;

__device__ __forceinline__ float half_bits(uint32_t bits) { return __half2float(__ushort_as_half(uint16_t(bits))); }

// 4 bytes from a 2-byte aligned address (Q6_K and Q8_0 blocks are 210 and 34
// bytes, so 4-byte alignment is not guaranteed).
__device__ __forceinline__ int load_b2(const uint8_t* p) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
  return int(uint32_t(h[0]) | uint32_t(h[1]) << 16);
}

// Activations: xq int8 [T][k], xd f32 [T][k / 32].
__global__ void quantize_q8_kernel(const float* __restrict__ x, int64_t xs, int64_t k, int8_t* __restrict__ xq,
                                   float* __restrict__ xd) {
  const int t = blockIdx.y, lane = threadIdx.x % 32;
  const int64_t blk = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (blk * 32 >= k) return;
  const float v = x[t * xs + blk * 32 + lane];
  float amax = fabsf(v);
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  const float d = amax / 127.f;
  xq[t * k + blk * 32 + lane] = int8_t(d > 0.f ? __float2int_rn(v / d) : 0);
  if (lane == 0) xd[t * (k / 32) + blk] = d;
}

template <GgmlType T>
struct Mmvq;

// Q4_K (144 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales/mins for 8
// sub-blocks of 32, 128 bytes of nibbles. Quant byte 32p + l holds value
// 64p + l (low nibble, sub-block 2p) and 64p + 32 + l (high, sub-block 2p+1).
// Task (p, h): bytes [32p + 16h, +16).
template <>
struct Mmvq<GgmlType::Q4_K> {
  static constexpr int kValues = 256, kBytes = 144, kTasks = 8, kAlign = 16;
  struct W {
    int4 q;
    float d_lo, d_hi, m_lo, m_hi;  // d * scale and dmin * min of the two sub-blocks
  };
  __device__ static W load(const uint8_t* b, int task) {
    const int p = task / 2, h = task % 2;
    W w;
    w.q = *reinterpret_cast<const int4*>(b + 16 + 32 * p + 16 * h);
    const uint32_t dm = *reinterpret_cast<const uint32_t*>(b);
    const uint32_t* sw = reinterpret_cast<const uint32_t*>(b + 4);
    const uint32_t s0 = sw[0], s1 = sw[1], s2 = sw[2];
    auto byte_at = [&](int i) -> int {
      const uint32_t word = i < 4 ? s0 : (i < 8 ? s1 : s2);
      return int((word >> (8 * (i & 3))) & 0xFF);
    };
    float sc[2], mn[2];
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      const int j = 2 * p + s;
      if (j < 4) {
        sc[s] = float(byte_at(j) & 63);
        mn[s] = float(byte_at(j + 4) & 63);
      } else {
        sc[s] = float((byte_at(j + 4) & 0xF) | ((byte_at(j - 4) >> 6) << 4));
        mn[s] = float((byte_at(j + 4) >> 4) | ((byte_at(j) >> 6) << 4));
      }
    }
    const float d = half_bits(dm & 0xFFFF), dmin = half_bits(dm >> 16);
    w.d_lo = d * sc[0], w.d_hi = d * sc[1], w.m_lo = dmin * mn[0], w.m_hi = dmin * mn[1];
    return w;
  }
  // xq/xd: the token's activations at this weight block's first value.
  __device__ static float dot(const W& w, int task, const int8_t* xq, const float* xd) {
    const int p = task / 2, h = task % 2;
    const int4 a_lo = *reinterpret_cast<const int4*>(xq + 64 * p + 16 * h);
    const int4 a_hi = *reinterpret_cast<const int4*>(xq + 64 * p + 32 + 16 * h);
    const int q[4] = {w.q.x, w.q.y, w.q.z, w.q.w};
    const int lo_a[4] = {a_lo.x, a_lo.y, a_lo.z, a_lo.w}, hi_a[4] = {a_hi.x, a_hi.y, a_hi.z, a_hi.w};
    int dot_lo = 0, dot_hi = 0, sum_lo = 0, sum_hi = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      dot_lo = __dp4a(q[i] & 0x0F0F0F0F, lo_a[i], dot_lo);
      dot_hi = __dp4a((q[i] >> 4) & 0x0F0F0F0F, hi_a[i], dot_hi);
      sum_lo = __dp4a(0x01010101, lo_a[i], sum_lo);
      sum_hi = __dp4a(0x01010101, hi_a[i], sum_hi);
    }
    const float dx_lo = xd[2 * p], dx_hi = xd[2 * p + 1];
    return dx_lo * (w.d_lo * float(dot_lo) - w.m_lo * float(sum_lo)) +
           dx_hi * (w.d_hi * float(dot_hi) - w.m_hi * float(sum_hi));
  }
};

// Q6_K (210 bytes): ql[128], qh[64], int8 scales[16], f16 d. For half hf and
// l < 32, value 128hf + 32g + l (g = 0..3) is the low (g < 2) or high nibble
// of ql[64hf + 32(g % 2) + l] with bits 2g of qh[32hf + l] on top, minus 32,
// scaled by scales[8hf + l / 16 + 2g]. Task (hf, l0 = 0 or 16): those 64
// values for l in [l0, l0 + 16).
template <>
struct Mmvq<GgmlType::Q6_K> {
  static constexpr int kValues = 256, kBytes = 210, kTasks = 4, kAlign = 2;
  struct W {
    int ql0[4], ql1[4], qh[4];
    float ds[4];
  };
  __device__ static W load(const uint8_t* b, int task) {
    const int hf = task / 2, l0 = 16 * (task % 2);
    W w;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      w.ql0[i] = load_b2(b + 64 * hf + l0 + 4 * i);
      w.ql1[i] = load_b2(b + 64 * hf + 32 + l0 + 4 * i);
      w.qh[i] = load_b2(b + 128 + 32 * hf + l0 + 4 * i);
    }
    const float d = half_bits(uint32_t(*reinterpret_cast<const uint16_t*>(b + 208)));
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * hf + l0 / 16;
#pragma unroll
    for (int g = 0; g < 4; ++g) w.ds[g] = d * float(sc[2 * g]);
    return w;
  }
  __device__ static float dot(const W& w, int task, const int8_t* xq, const float* xd) {
    const int hf = task / 2, l0 = 16 * (task % 2);
    float r = 0.f;
#pragma unroll
    for (int g = 0; g < 4; ++g) {
      const int4 a = *reinterpret_cast<const int4*>(xq + 128 * hf + 32 * g + l0);
      const int av[4] = {a.x, a.y, a.z, a.w};
      int acc = 0;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int ql = g % 2 == 0 ? w.ql0[i] : w.ql1[i];
        const int lo = g < 2 ? ql & 0x0F0F0F0F : (ql >> 4) & 0x0F0F0F0F;
        const int hi = ((w.qh[i] >> (2 * g)) & 0x03030303) << 4;
        acc = __dp4a(int(__vsubss4(unsigned(lo | hi), 0x20202020u)), av[i], acc);
      }
      r += w.ds[g] * xd[4 * hf + g] * float(acc);
    }
    return r;
  }
};

// Q8_0 (34 bytes): f16 d, 32 int8. One task per block.
template <>
struct Mmvq<GgmlType::Q8_0> {
  static constexpr int kValues = 32, kBytes = 34, kTasks = 1, kAlign = 2;
  struct W {
    int q[8];
    float d;
  };
  __device__ static W load(const uint8_t* b, int) {
    W w;
#pragma unroll
    for (int i = 0; i < 8; ++i) w.q[i] = load_b2(b + 2 + 4 * i);
    w.d = half_bits(uint32_t(*reinterpret_cast<const uint16_t*>(b)));
    return w;
  }
  __device__ static float dot(const W& w, int, const int8_t* xq, const float* xd) {
    const int4 a0 = *reinterpret_cast<const int4*>(xq), a1 = *reinterpret_cast<const int4*>(xq + 16);
    int acc = 0;
    acc = __dp4a(w.q[0], a0.x, acc);
    acc = __dp4a(w.q[1], a0.y, acc);
    acc = __dp4a(w.q[2], a0.z, acc);
    acc = __dp4a(w.q[3], a0.w, acc);
    acc = __dp4a(w.q[4], a1.x, acc);
    acc = __dp4a(w.q[5], a1.y, acc);
    acc = __dp4a(w.q[6], a1.z, acc);
    acc = __dp4a(w.q[7], a1.w, acc);
    return w.d * xd[0] * float(acc);
  }
};

// Q5_0 (22 bytes): f16 d, 32 high bits qh, 16 bytes of nibbles: value j < 16
// is the low nibble of qs[j], value 16 + j the high one, each with bit j (or
// 16 + j) of qh on top, minus 16. One task per block. (Qwen2.5-0.5B's
// "Q4_K_M" stores its 896-wide matrices so.)
template <>
struct Mmvq<GgmlType::Q5_0> {
  static constexpr int kValues = 32, kBytes = 22, kTasks = 1, kAlign = 2;
  struct W {
    int qs[4];
    uint32_t qh;
    float d;
  };
  __device__ static W load(const uint8_t* b, int) {
    W w;
    w.d = half_bits(uint32_t(*reinterpret_cast<const uint16_t*>(b)));
    w.qh = uint32_t(load_b2(b + 2));
#pragma unroll
    for (int i = 0; i < 4; ++i) w.qs[i] = load_b2(b + 6 + 4 * i);
    return w;
  }
  // Bits 0..3 of h to bit 4 of bytes 0..3.
  __device__ static int fifth_bits(uint32_t h) {
    return int(((h << 4) & 0x10u) | ((h << 11) & 0x1000u) | ((h << 18) & 0x100000u) | ((h << 25) & 0x10000000u));
  }
  __device__ static float dot(const W& w, int, const int8_t* xq, const float* xd) {
    const int4 a0 = *reinterpret_cast<const int4*>(xq), a1 = *reinterpret_cast<const int4*>(xq + 16);
    const int lo_a[4] = {a0.x, a0.y, a0.z, a0.w}, hi_a[4] = {a1.x, a1.y, a1.z, a1.w};
    int acc = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int lo = (w.qs[i] & 0x0F0F0F0F) | fifth_bits(w.qh >> (4 * i));
      const int hi = ((w.qs[i] >> 4) & 0x0F0F0F0F) | fifth_bits(w.qh >> (16 + 4 * i));
      acc = __dp4a(int(__vsubss4(unsigned(lo), 0x10101010u)), lo_a[i], acc);
      acc = __dp4a(int(__vsubss4(unsigned(hi), 0x10101010u)), hi_a[i], acc);
    }
    return w.d * xd[0] * float(acc);
  }
};

// W warps share a row (W = 1, 2, 4; kWarps / W rows per block): short
// matrices get more warps, hence more loads in flight, per row.
// NT: the most token rows (1 for batch-1 decode: fewer accumulator registers,
// more warps per SM).
template <GgmlType T, int W, int NT>
__global__ void __launch_bounds__(kWarps * 32)
    mmvq_kernel(const uint8_t* __restrict__ w, size_t ws, int64_t n_rows, int64_t k, const int8_t* __restrict__ xq,
                const float* __restrict__ xd, int n_tok, float* __restrict__ y, int64_t ys) {
  static_assert(NT <= 32, "the W > 1 reduction gives each token row a lane");
  using F = Mmvq<T>;
  __shared__ float partial[kWarps][NT];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t n = int64_t(blockIdx.x) * (kWarps / W) + warp / W;
  const int part = warp % W;
  const bool active = n < n_rows;  // no early return: the block synchronizes below
  const uint8_t* row = w + size_t(active ? n : 0) * ws;
  const int n_tasks = active ? int(k / F::kValues) * F::kTasks : 0;
  float acc[NT] = {};
#pragma unroll 4
  for (int task = part * 32 + lane; task < n_tasks; task += 32 * W) {
    const int b = task / F::kTasks, sub = task % F::kTasks;
    const typename F::W wt = F::load(row + size_t(b) * F::kBytes, sub);
#pragma unroll
    for (int t = 0; t < NT; ++t)
      if (t < n_tok) acc[t] += F::dot(wt, sub, xq + t * k + int64_t(b) * F::kValues, xd + t * (k / 32) + b * (F::kValues / 32));
  }
#pragma unroll
  for (int t = 0; t < NT; ++t) {
    if (t < n_tok) {
      float s = acc[t];
      for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      acc[t] = s;
    }
  }
  if constexpr (W == 1) {
    if (lane == 0 && active)
#pragma unroll
      for (int t = 0; t < NT; ++t)
        if (t < n_tok) y[t * ys + n] = acc[t];
  } else {
    if (lane == 0)
#pragma unroll
      for (int t = 0; t < NT; ++t)
        if (t < n_tok) partial[warp][t] = acc[t];
    __syncthreads();
    if (part == 0 && lane < n_tok && active) {
      float s = 0.f;
      for (int p = 0; p < W; ++p) s += partial[warp + p][lane];
      y[lane * ys + n] = s;
    }
  }
}

template <class Fn>
bool dispatch_mmvq(GgmlType t, Fn&& f) {
  switch (t) {
    case GgmlType::Q4_K: f.template operator()<GgmlType::Q4_K>(); return true;
    case GgmlType::Q6_K: f.template operator()<GgmlType::Q6_K>(); return true;
    case GgmlType::Q8_0: f.template operator()<GgmlType::Q8_0>(); return true;
    case GgmlType::Q5_0: f.template operator()<GgmlType::Q5_0>(); return true;
    default: return false;
  }
}

}  // namespace

bool mmvq_supported(GgmlType type, const void* w, size_t w_stride_bytes, int64_t k) {
  bool ok = false;
  dispatch_mmvq(type, [&]<GgmlType F>() {
    using M = Mmvq<F>;
    ok = k % M::kValues == 0 && reinterpret_cast<uintptr_t>(w) % M::kAlign == 0 &&
         w_stride_bytes % M::kAlign == 0;
  });
  return ok;
}

size_t mmvq_workspace_bytes(int64_t T, int64_t k) { return size_t(T) * size_t(k) + size_t(T) * size_t(k / 32) * 4; }

void launch_mmvq(GgmlType type, const void* w, size_t w_stride_bytes, int64_t n_rows, int64_t k, const float* x,
                 int64_t xs, int64_t T, float* y, int64_t ys, void* workspace, bool quantize, int rows_per_load,
                 cudaStream_t s) {
  if (n_rows == 0 || T == 0) return;
  if (T > kMaxMmvqTokens) throw kiln::Error("cuda mmvq: " + std::to_string(T) + " token rows (at most 64)");
  // k is a multiple of 32 (mmvq_supported): every block's int8 values start
  // 16-byte aligned, and xd 4-byte aligned.
  int8_t* xq = static_cast<int8_t*>(workspace);
  float* xd = reinterpret_cast<float*>(xq + size_t(T) * size_t(k));
  if (quantize) {
    // All T rows at once (gridDim.y = T): later matmuls on the same x skip it.
    quantize_q8_kernel<<<dim3(blocks_for(k / 32, 8), unsigned(T)), 256, 0, s>>>(x, xs, k, xq, xd);
    KILN_CUDA_LAUNCHED();
  }
  const int nt = T <= kMaxMatvecTokens ? kMaxMatvecTokens : (rows_per_load >= 32 ? 32 : rows_per_load >= 16 ? 16 : 8);
  const bool ok = dispatch_mmvq(type, [&]<GgmlType F>() {
    // Warps per row by height, from two H100 profiles (2026-11-22): a warp
    // per row ran 1024x4096 Q4_K in 10.8 us, 4 warps per row in 8.7; 2 warps
    // per row made 4096x4096 slower (12.7 -> 14.1 us), so tall matrices keep
    // one warp per row.
    const auto* wb = static_cast<const uint8_t*>(w);
    auto go = [&]<int NT>(int64_t t0, int n_tok) {
      const int8_t* q = xq + t0 * k;
      const float* d = xd + t0 * (k / 32);
      float* yt = y + t0 * ys;
      if (n_rows >= 4096)
        mmvq_kernel<F, 1, NT><<<blocks_for(n_rows, kWarps), kWarps * 32, 0, s>>>(wb, w_stride_bytes, n_rows, k, q, d,
                                                                                n_tok, yt, ys);
      else
        mmvq_kernel<F, 4, NT><<<blocks_for(n_rows, 1), kWarps * 32, 0, s>>>(wb, w_stride_bytes, n_rows, k, q, d,
                                                                           n_tok, yt, ys);
    };
    for (int64_t t0 = 0; t0 < T; t0 += nt) {
      const int n_tok = int(std::min<int64_t>(nt, T - t0));
      if (T == 1)
        go.template operator()<1>(t0, n_tok);
      else if (nt == 8)
        go.template operator()<8>(t0, n_tok);
      else if (nt == 16)
        go.template operator()<16>(t0, n_tok);
      else
        go.template operator()<32>(t0, n_tok);
    }
  });
  if (!ok) throw kiln::Error("cuda mmvq: no kernel for " + std::string(type_name(type)) + " weights");
  KILN_CUDA_LAUNCHED();
}

}  // namespace kiln::cuda
