// Matrix-vector products on quantized weights (decode: T <= 8 tokens) and the
// dequantization of weight row tiles for the tensor-core GEMMs of prefill.
//
// matvec: one warp per output row; lane l decodes values [8i, 8i+8) of the
// row for i = l, l+32, ... (consecutive lanes read consecutive bytes, so a
// warp's loads coalesce) and multiplies them into up to 8 token rows of x at
// once, so the weight is read once per step whatever T is. Decode is bound by
// weight bytes: this kernel's job is to keep enough loads in flight.
#include <cuda_fp16.h>

#include "backend/cuda/common.cuh"
#include "backend/cuda/dequant.cuh"
#include "backend/cuda/kernels.h"

namespace kiln::cuda {

namespace {

constexpr int kWarpsPerBlock = 4;

template <GgmlType T>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    matvec_kernel(const uint8_t* __restrict__ w, size_t ws, int64_t n_rows, int64_t k, const float* __restrict__ x,
                  int64_t xs, int n_tok, float* __restrict__ y, int64_t ys) {
  const int lane = threadIdx.x % 32;
  const int64_t n = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (n >= n_rows) return;
  const uint8_t* row = w + size_t(n) * ws;
  float acc[kMaxMatvecTokens] = {};
  // Unrolled so that the loads of several steps are in flight at once: a
  // warp has one row, and without this it waits out the memory latency of
  // each 256-value step in turn.
#pragma unroll 4
  for (int64_t i = lane; i < k / 8; i += 32) {
    float v[8];
    Format<T>::dequant8(row, i, v);
#pragma unroll
    for (int t = 0; t < kMaxMatvecTokens; ++t) {
      if (t < n_tok) {
        const float4* xp = reinterpret_cast<const float4*>(x + t * xs + i * 8);
        const float4 a = xp[0], b = xp[1];
        acc[t] += v[0] * a.x + v[1] * a.y + v[2] * a.z + v[3] * a.w + v[4] * b.x + v[5] * b.y + v[6] * b.z + v[7] * b.w;
      }
    }
  }
#pragma unroll
  for (int t = 0; t < kMaxMatvecTokens; ++t) {
    if (t < n_tok) {
      float s = acc[t];
      for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      if (lane == 0) y[t * ys + n] = s;
    }
  }
}

// One token (decode at batch 1) on a tall matrix: a warp takes kRowsPerWarp
// rows, so each activation load feeds several rows and a warp keeps several
// rows' weight loads in flight.
constexpr int kRowsPerWarp = 4;

template <GgmlType T>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    matvec1_kernel(const uint8_t* __restrict__ w, size_t ws, int64_t n_rows, int64_t k, const float* __restrict__ x,
                   float* __restrict__ y) {
  const int lane = threadIdx.x % 32;
  const int64_t n0 = (int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32) * kRowsPerWarp;
  if (n0 >= n_rows) return;
  const int rows = n_rows - n0 < kRowsPerWarp ? int(n_rows - n0) : kRowsPerWarp;
  float acc[kRowsPerWarp] = {};
#pragma unroll 2
  for (int64_t i = lane; i < k / 8; i += 32) {
    const float4* xp = reinterpret_cast<const float4*>(x + i * 8);
    const float4 a = xp[0], b = xp[1];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      if (r < rows) {
        float v[8];
        Format<T>::dequant8(w + size_t(n0 + r) * ws, i, v);
        acc[r] += v[0] * a.x + v[1] * a.y + v[2] * a.z + v[3] * a.w + v[4] * b.x + v[5] * b.y + v[6] * b.z + v[7] * b.w;
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    float s = acc[r];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0 && r < rows) y[n0 + r] = s;
  }
}

template <GgmlType T, bool F32>
__global__ void dequant_rows_kernel(const uint8_t* w, size_t ws, int64_t first, int64_t k, void* out) {
  const int64_t r = blockIdx.x;
  const uint8_t* row = w + size_t(first + r) * ws;
  for (int64_t i = threadIdx.x; i < k / 8; i += blockDim.x) {
    float v[8];
    Format<T>::dequant8(row, i, v);
    if constexpr (F32) {
      float4* o = reinterpret_cast<float4*>(static_cast<float*>(out) + r * k + i * 8);
      o[0] = make_float4(v[0], v[1], v[2], v[3]);
      o[1] = make_float4(v[4], v[5], v[6], v[7]);
    } else {
      __half2 h[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) h[j] = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
      *reinterpret_cast<uint4*>(static_cast<__half*>(out) + r * k + i * 8) = *reinterpret_cast<const uint4*>(h);
    }
  }
}

}  // namespace

bool supported_weight_type(GgmlType type) {
  int values = 0;  // a capturing lambda: nvcc warns about captureless template lambdas
  return dispatch_type(type, [&]<GgmlType F>() { values = Format<F>::kValues; });
}

void launch_matvec(GgmlType type, const void* w, size_t w_stride_bytes, int64_t n_rows, int64_t k, const float* x,
                   int64_t xs, int64_t T, float* y, int64_t ys, cudaStream_t s) {
  if (n_rows == 0 || T == 0) return;
  const bool ok = dispatch_type(type, [&]<GgmlType F>() {
    // Several rows per warp pay off only where rows are plentiful: fewer
    // blocks than that leave SMs idle (measured on an H100: 14336 rows
    // faster, 4096 and 1024 slower).
    if (T == 1 && n_rows >= 8192)
      matvec1_kernel<F><<<blocks_for(n_rows, kWarpsPerBlock * kRowsPerWarp), kWarpsPerBlock * 32, 0, s>>>(
          static_cast<const uint8_t*>(w), w_stride_bytes, n_rows, k, x, y);
    else
      matvec_kernel<F><<<blocks_for(n_rows, kWarpsPerBlock), kWarpsPerBlock * 32, 0, s>>>(
          static_cast<const uint8_t*>(w), w_stride_bytes, n_rows, k, x, xs, int(T), y, ys);
  });
  if (!ok) throw kiln::Error("cuda matmul: no kernel for " + std::string(type_name(type)) + " weights");
  KILN_CUDA_LAUNCHED();
}

void launch_dequant_rows(GgmlType type, const void* w, size_t w_stride_bytes, int64_t first, int64_t n, int64_t k,
                         void* out, bool out_f32, cudaStream_t s) {
  if (n == 0) return;
  const bool ok = dispatch_type(type, [&]<GgmlType F>() {
    if (out_f32)
      dequant_rows_kernel<F, true><<<unsigned(n), 128, 0, s>>>(static_cast<const uint8_t*>(w), w_stride_bytes, first, k, out);
    else
      dequant_rows_kernel<F, false><<<unsigned(n), 128, 0, s>>>(static_cast<const uint8_t*>(w), w_stride_bytes, first, k, out);
  });
  if (!ok) throw kiln::Error("cuda matmul: no kernel for " + std::string(type_name(type)) + " weights");
  KILN_CUDA_LAUNCHED();
}

}  // namespace kiln::cuda
