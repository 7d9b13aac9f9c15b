// Attention over the paged KV cache. Two kernels and a combine:
//   kv_store   writes the step's K/V rows (f32, after RoPE) into their cache
//              slots as f16 or ggml q8_0 (the CPU quantizer's arithmetic);
//   attend     one block per (query token, KV head, key split): the query
//              heads that share the KV head (grouped-query) are scored together,
//              so each K/V row is read once for all of them. Keys go through
//              the sequence's block table a tile of 128 at a time with an online
//              softmax (running max and sum per head);
//   combine    merges the splits of short batches (decode: runs of >= 32 keys),
//              where one split per (token, KV head) would leave most of the GPU
//              idle and each block latency-bound.
// Prefill uses the same kernel with one split: each (token, KV head) block
// walks its causal range; correct and simple, not a tensor-core kernel.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

#include "backend/cuda/common.cuh"
#include "backend/cuda/dequant.cuh"
#include "backend/cuda/kernels.h"

namespace kiln::cuda {

namespace {

constexpr int kTile = 128;       // keys per tile = threads per block
// Short batches (decode) split each query's keys into runs of at least
// kMinSplitKeys: a block walks its keys one after another, so a long run in
// one block is latency-bound while the rest of the GPU idles.
constexpr int kMinSplitKeys = 32;
constexpr int kMaxSplits = 128;
constexpr int kQ8Bytes = 34;     // one ggml q8_0 block: f16 scale + 32 int8

__device__ __forceinline__ void load8(const uint8_t* row, int d, bool q8, float* out) {
  if (!q8) {
    const uint4 v = *reinterpret_cast<const uint4*>(row + size_t(d) * 2);
    const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 f = __half22float2(h[j]);
      out[2 * j] = f.x, out[2 * j + 1] = f.y;
    }
  } else {
    const uint8_t* b = row + (d / 32) * kQ8Bytes;
    const float s = f16_at(b);
    const int8_t* q = reinterpret_cast<const int8_t*>(b + 2) + d % 32;
#pragma unroll
    for (int j = 0; j < 8; ++j) out[j] = float(q[j]) * s;
  }
}

__device__ __forceinline__ float load1(const uint8_t* row, int d, bool q8) {
  if (!q8) return __half2float(reinterpret_cast<const __half*>(row)[d]);
  const uint8_t* b = row + (d / 32) * kQ8Bytes;
  return float(reinterpret_cast<const int8_t*>(b + 2)[d % 32]) * f16_at(b);
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Grid (token, kv head); K then V, each a head_dim row.
__global__ void kv_store_kernel(const float* k, int64_t ks, const float* v, int64_t vs, const int32_t* slots,
                                KvLayerView kv, int head_dim) {
  const int t = blockIdx.x, h = blockIdx.y;
  const int32_t slot = slots[t];
  if (slot < 0) return;
  const int64_t block = slot / kv.block_size, off = slot % kv.block_size;
  for (int which = 0; which < 2; ++which) {
    const float* src = (which == 0 ? k + t * ks : v + t * vs) + h * head_dim;
    uint8_t* dst = which == 0 ? kv.k_base + block * kv.block_bytes + h * kv.k_head_stride + off * kv.k_row_bytes
                              : kv.v_base + block * kv.block_bytes + h * kv.v_head_stride + off * kv.v_row_bytes;
    if (!kv.q8_0) {
      for (int d = threadIdx.x; d < head_dim; d += blockDim.x)
        reinterpret_cast<__half*>(dst)[d] = __float2half_rn(src[d]);
    } else {
      // A warp per 32-value block: d = amax / 127, q = round(x / d), as
      // core/quant's quantize_q8_0 does.
      const int lane = threadIdx.x % 32;
      for (int b = threadIdx.x / 32; b < head_dim / 32; b += blockDim.x / 32) {
        const float x = src[b * 32 + lane];
        const float amax = warp_max(fabsf(x));
        const float d = amax / 127.f;
        const float id = d != 0.f ? 1.f / d : 0.f;
        uint8_t* blk = dst + b * kQ8Bytes;
        reinterpret_cast<int8_t*>(blk + 2)[lane] = int8_t(roundf(x * id));
        // One 2-byte store (rows and blocks are 2-byte aligned: 34-byte
        // blocks, even row strides). Two byte stores of the halves left the
        // low byte 0 on an H100 (CudaOpsTest.AttentionLongQ8_0, 2026-11-22).
        if (lane == 0) *reinterpret_cast<__half*>(blk) = __float2half_rn(d);
      }
    }
  }
}

struct AttendArgs {
  AttentionLaunch a;
  KvLayerView kv;
  int n_splits;
  int split_keys;  // keys per split (when n_splits > 1)
  float* partial;  // [token][head][split][head_dim + 2] when n_splits > 1
};

__global__ void __launch_bounds__(kTile) attend_kernel(AttendArgs args) {
  const AttentionLaunch& a = args.a;
  const KvLayerView& kv = args.kv;
  const int t = blockIdx.x, kvh = blockIdx.y, split = blockIdx.z, tid = threadIdx.x;
  const int G = a.n_heads / a.n_kv_heads, D = a.head_dim;
  extern __shared__ float smem[];
  float* qs = smem;                      // [G][D]
  float* ps = qs + G * D;                // [G][kTile] scores, then probabilities
  float* m_run = ps + G * kTile;         // [G] running max
  float* l_run = m_run + G;              // [G] running sum
  float* alpha = l_run + G;              // [G] rescale of the previous tiles
  __shared__ const uint8_t* v_rows[kTile];

  const int pos = a.positions[t];
  const int first = a.window > 0 ? max(0, pos - a.window + 1) : 0;
  const int k_begin = first + split * args.split_keys;
  const int k_end = args.n_splits > 1 ? min(pos + 1, k_begin + args.split_keys) : pos + 1;
  const int32_t* table = a.block_table + size_t(a.token_seq[t]) * a.table_stride;

  for (int i = tid; i < G * D; i += kTile) qs[i] = a.q[t * a.q_stride + (kvh * G) * D + i];
  if (tid < G) {
    m_run[tid] = -INFINITY;
    l_run[tid] = 0.f;
  }
  // Output ownership for step 3: thread tid holds dims d0 + e * dstride and
  // heads g0 + m * gstride, so that its V loads serve all its heads and no
  // index is divided inside the key loop.
  constexpr int kMaxDims = kMaxHeadDim / kTile;  // 2
  constexpr int kMaxHeadsPerThread = kMaxGroupHeads;
  const int dstride = D >= kTile ? kTile : D;
  const int gstride = D >= kTile ? 1 : kTile / D;
  const int d0 = tid % dstride, g0 = tid / dstride;
  float acc_o[kMaxDims][kMaxHeadsPerThread];
#pragma unroll
  for (int e = 0; e < kMaxDims; ++e)
#pragma unroll
    for (int m = 0; m < kMaxHeadsPerThread; ++m) acc_o[e][m] = 0.f;
  __syncthreads();

  for (int k0 = k_begin; k0 < k_end; k0 += kTile) {
    // 1. scores of key k0 + tid against every head of the group
    const int kp = k0 + tid;
    if (kp < k_end) {
      const int32_t block = table[kp / kv.block_size];
      const int off = kp % kv.block_size;
      const uint8_t* krow = kv.k_base + size_t(block) * kv.block_bytes + kvh * kv.k_head_stride + off * kv.k_row_bytes;
      v_rows[tid] = kv.v_base + size_t(block) * kv.block_bytes + kvh * kv.v_head_stride + off * kv.v_row_bytes;
      float acc[kMaxGroupHeads];
#pragma unroll
      for (int g = 0; g < kMaxGroupHeads; ++g) acc[g] = 0.f;
#pragma unroll 4
      for (int d = 0; d < D; d += 8) {
        float kv8[8];
        load8(krow, d, kv.q8_0, kv8);
#pragma unroll
        for (int g = 0; g < kMaxGroupHeads; ++g)
          if (g < G) {
            const float* qg = qs + g * D + d;
#pragma unroll
            for (int j = 0; j < 8; ++j) acc[g] += qg[j] * kv8[j];
          }
      }
#pragma unroll
      for (int g = 0; g < kMaxGroupHeads; ++g)
        if (g < G) {
          float s = acc[g] * a.scale;
          if (a.softcap > 0.f) s = a.softcap * tanhf(s / a.softcap);
          ps[g * kTile + tid] = s;
        }
    } else {
      for (int g = 0; g < G; ++g) ps[g * kTile + tid] = -INFINITY;
    }
    __syncthreads();
    // 2. online softmax per head: a warp per head
    const int warp = tid / 32, lane = tid % 32;
    for (int g = warp; g < G; g += kTile / 32) {
      float* p = ps + g * kTile;
      float mx = -INFINITY;
      for (int j = lane; j < kTile; j += 32) mx = fmaxf(mx, p[j]);
      mx = warp_max(mx);
      const float m_new = fmaxf(m_run[g], mx);  // finite: the tile's first key is visible
      float sum = 0.f;
      for (int j = lane; j < kTile; j += 32) {
        const float e = p[j] == -INFINITY ? 0.f : expf(p[j] - m_new);
        p[j] = e;
        sum += e;
      }
      sum = warp_sum(sum);
      if (lane == 0) {
        const float al = m_run[g] == -INFINITY ? 0.f : expf(m_run[g] - m_new);
        alpha[g] = al;
        l_run[g] = l_run[g] * al + sum;
        m_run[g] = m_new;
      }
    }
    __syncthreads();
    // 3. out[g][d] = out * alpha + sum_j p[g][j] v[j][d]
    const int n_keys = min(kTile, k_end - k0);
#pragma unroll
    for (int m = 0; m < kMaxHeadsPerThread; ++m) {
      const int g = g0 + m * gstride;
      if (g < G) {
        const float al = alpha[g];
#pragma unroll
        for (int e = 0; e < kMaxDims; ++e) acc_o[e][m] *= al;
      }
    }
    if (g0 < gstride) {
      // Not unrolled: unrolling by 8 measured slower on an H100 (decode 41 ->
      // 52 us per layer, prefill 1.19 -> 1.75 ms), the extra registers cost
      // more occupancy than the overlapped loads gain.
      for (int j = 0; j < n_keys; ++j) {
        const uint8_t* vr = v_rows[j];
#pragma unroll
        for (int e = 0; e < kMaxDims; ++e) {
          const int d = d0 + e * dstride;
          if (e * dstride < D && d < D) {
            const float vv = load1(vr, d, kv.q8_0);
#pragma unroll
            for (int m = 0; m < kMaxHeadsPerThread; ++m) {
              const int g = g0 + m * gstride;
              if (g < G) acc_o[e][m] += ps[g * kTile + j] * vv;
            }
          }
        }
      }
    }
    __syncthreads();
  }

  if (g0 >= gstride) return;
#pragma unroll
  for (int e = 0; e < kMaxDims; ++e) {
    const int d = d0 + e * dstride;
    if (e * dstride >= D || d >= D) continue;
#pragma unroll
    for (int m = 0; m < kMaxHeadsPerThread; ++m) {
      const int g = g0 + m * gstride;
      if (g >= G) continue;
      const int h = kvh * G + g;
      const float o = acc_o[e][m];
      if (args.n_splits == 1) {
        a.out[t * a.out_stride + h * D + d] = o / l_run[g];
      } else {
        float* part = args.partial + ((size_t(t) * a.n_heads + h) * args.n_splits + split) * (D + 2);
        part[d] = o;
        if (d == 0) {
          part[D] = m_run[g];
          part[D + 1] = l_run[g];
        }
      }
    }
  }
}

// Grid (token, head), head_dim threads: softmax-weighted merge of the splits.
__global__ void combine_kernel(const float* partial, int n_splits, int n_heads, int D, float* out, int64_t os) {
  const int t = blockIdx.x, h = blockIdx.y, d = threadIdx.x;
  const float* part = partial + (size_t(t) * n_heads + h) * n_splits * (D + 2);
  float m = -INFINITY;
  for (int s = 0; s < n_splits; ++s)
    if (part[s * (D + 2) + D + 1] > 0.f) m = fmaxf(m, part[s * (D + 2) + D]);
  float num = 0.f, den = 0.f;
  for (int s = 0; s < n_splits; ++s) {
    const float* p = part + s * (D + 2);
    if (!(p[D + 1] > 0.f)) continue;  // an empty split (past the query's last key)
    const float w = expf(p[D] - m);
    num += w * p[d];
    den += w * p[D + 1];
  }
  out[t * os + h * D + d] = num / den;
}

struct SplitPlan {
  int count = 1, keys = 0;
};

SplitPlan split_plan(const AttentionLaunch& a) {
  // Enough blocks to fill the GPU without splitting: prefill.
  if (int64_t(a.n_tokens) * a.n_kv_heads >= 512) return {};
  int keys = (a.max_seq_len + kMaxSplits - 1) / kMaxSplits;
  keys = std::max(kMinSplitKeys, (keys + kMinSplitKeys - 1) / kMinSplitKeys * kMinSplitKeys);
  return {std::max(1, (a.max_seq_len + keys - 1) / keys), keys};
}

}  // namespace

size_t attention_workspace_bytes(const AttentionLaunch& a) {
  const int splits = split_plan(a).count;
  return splits > 1 ? size_t(a.n_tokens) * a.n_heads * splits * (a.head_dim + 2) * sizeof(float) : 0;
}

void launch_attention(const AttentionLaunch& a, const KvLayerView& kv, void* workspace, cudaStream_t s) {
  if (a.n_tokens == 0) return;
  kv_store_kernel<<<dim3(a.n_tokens, a.n_kv_heads), 128, 0, s>>>(a.k, a.k_stride, a.v, a.v_stride, a.slot_mapping, kv,
                                                                  a.head_dim);
  KILN_CUDA_LAUNCHED();
  const int G = a.n_heads / a.n_kv_heads;
  const SplitPlan plan = split_plan(a);
  AttendArgs args{a, kv, plan.count, plan.keys, static_cast<float*>(workspace)};
  const size_t shared = sizeof(float) * (size_t(G) * a.head_dim + size_t(G) * kTile + 3 * size_t(G));
  attend_kernel<<<dim3(a.n_tokens, a.n_kv_heads, args.n_splits), kTile, shared, s>>>(args);
  KILN_CUDA_LAUNCHED();
  if (args.n_splits > 1) {
    combine_kernel<<<dim3(a.n_tokens, a.n_heads), a.head_dim, 0, s>>>(args.partial, args.n_splits, a.n_heads,
                                                                      a.head_dim, a.out, a.out_stride);
    KILN_CUDA_LAUNCHED();
  }
}

}  // namespace kiln::cuda
