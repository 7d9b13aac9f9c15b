// Row-wise and element-wise kernels: embedding lookup (with dequantization),
// RMSNorm, RoPE, residual adds, bias, scale, gated activations, softcap, and
// the f32 -> f16 conversion the tensor-core GEMMs read. Memory-bound one-pass
// kernels: a thread per value, or a block per row where a row reduces.
#include <cuda_fp16.h>

#include "backend/cuda/common.cuh"
#include "backend/cuda/dequant.cuh"
#include "backend/cuda/kernels.h"

namespace kiln::cuda {

namespace {

constexpr int kThreads = 256;

template <GgmlType T>
__global__ void get_rows_kernel(const uint8_t* table, size_t stride, int64_t cols, int64_t table_rows,
                                const int32_t* ids, float* out, int64_t os) {
  const int64_t i = blockIdx.x;
  const int32_t id = ids[i];
  float* o = out + i * os;
  if (id < 0 || id >= table_rows) {  // the models check ids on the host; keep a bad one harmless here
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) o[c] = 0.f;
    return;
  }
  const uint8_t* row = table + size_t(id) * stride;
  if constexpr (Format<T>::kValues == 1) {
    if (cols % 8 != 0) {  // plain types of any width, one value at a time
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
        if constexpr (T == GgmlType::F32) o[c] = reinterpret_cast<const float*>(row)[c];
        else if constexpr (T == GgmlType::F16) o[c] = __half2float(reinterpret_cast<const __half*>(row)[c]);
        else o[c] = __uint_as_float(uint32_t(reinterpret_cast<const uint16_t*>(row)[c]) << 16);
      }
      return;
    }
  }
  for (int64_t i8 = threadIdx.x; i8 < cols / 8; i8 += blockDim.x) {
    float v[8];
    Format<T>::dequant8(row, i8, v);
#pragma unroll
    for (int j = 0; j < 8; ++j) o[i8 * 8 + j] = v[j];
  }
}

__device__ float block_sum(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < int(blockDim.x / 32) ? shared[lane] : 0.f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;  // every thread of the block holds the sum
}

__global__ void rms_norm_kernel(const float* x, int64_t xs, const float* w, float eps, float* y, int64_t ys,
                                int64_t cols) {
  __shared__ float partial[32];
  const float* in = x + blockIdx.x * xs;
  float* o = y + blockIdx.x * ys;
  float ss = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) ss += in[c] * in[c];
  ss = block_sum(ss, partial);
  const float inv = rsqrtf(ss / float(cols) + eps);
  // y may alias x: every thread has read its values before anyone writes
  // (block_sum synchronizes), and each writes only the values it read.
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) o[c] = in[c] * inv * w[c];
}

// sum = a + b, then y = rms_norm(sum) * w: the residual add and the next
// layer's norm in one pass (CudaBackend fuses add + rms_norm when recorded
// back to back). Same arithmetic, in the same order, as launch_add then
// rms_norm_kernel with the same block size, so the results are the same bits.
// sum may alias a or b, y may alias a or b: each thread reads and writes only
// its own columns, and the norm pass reads the sums this thread wrote.
__global__ void add_rms_norm_kernel(const float* a, int64_t as, const float* b, int64_t bs, float* sum, int64_t ss_,
                                    const float* w, float eps, float* y, int64_t ys, int64_t cols) {
  __shared__ float partial[32];
  const float* pa = a + blockIdx.x * as;
  const float* pb = b + blockIdx.x * bs;
  float* ps = sum + blockIdx.x * ss_;
  float* o = y + blockIdx.x * ys;
  float ss = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = pa[c] + pb[c];
    ps[c] = v;
    ss += v * v;
  }
  ss = block_sum(ss, partial);
  const float inv = rsqrtf(ss / float(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) o[c] = ps[c] * inv * w[c];
}

// Grid (token, chunk of (head, pair)): a thread per rotated pair of one head,
// so a token's heads rotate in parallel (a loop over heads in one thread
// waited out one memory round trip per head: ~8 us per call at decode). The
// angle is computed in double, as the reference (positions reach 10^5 and
// float angles would drift); each head recomputes it, which costs less than
// the round trips did and gives the same bits.
__global__ void rope_kernel(float* x, int64_t stride, int64_t cols, const int32_t* positions, int head_dim, int n_dims,
                            bool neox, const double* inv_freq) {
  const int half = n_dims / 2;
  const int64_t n_heads = cols / head_dim;
  const int64_t idx = int64_t(blockIdx.y) * blockDim.x + threadIdx.x;
  if (idx >= n_heads * half) return;
  const int i = int(idx % half);
  const int64_t h = idx / half;
  float* v = x + blockIdx.x * stride + h * head_dim;
  const double pos = double(positions[blockIdx.x]);
  double sn, cs;
  sincos(pos * inv_freq[i], &sn, &cs);
  const float c = float(cs), s = float(sn);
  const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
  const float x0 = v[a], x1 = v[b];
  v[a] = x0 * c - x1 * s;
  v[b] = x0 * s + x1 * c;
}

// Element-wise ops over [rows][cols] with row strides: one thread per value.
template <class F>
__global__ void map_kernel(int64_t rows, int64_t cols, F f) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * cols) return;
  f(i / cols, i % cols);
}

template <class F>
void launch_map(int64_t rows, int64_t cols, cudaStream_t s, F f) {
  if (rows * cols == 0) return;
  map_kernel<<<blocks_for(rows * cols, kThreads), kThreads, 0, s>>>(rows, cols, f);
  KILN_CUDA_LAUNCHED();
}

}  // namespace

void launch_get_rows(GgmlType type, const void* table, size_t table_stride_bytes, int64_t cols, int64_t table_rows,
                     const int32_t* ids, int64_t n, float* out, int64_t out_stride, cudaStream_t s) {
  if (n == 0) return;
  const bool ok = dispatch_type(type, [&]<GgmlType T>() {
    get_rows_kernel<T><<<unsigned(n), 128, 0, s>>>(static_cast<const uint8_t*>(table), table_stride_bytes, cols,
                                                   table_rows, ids, out, out_stride);
  });
  if (!ok) throw kiln::Error("cuda get_rows: no kernel for " + std::string(type_name(type)) + " tables");
  KILN_CUDA_LAUNCHED();
}

unsigned rms_norm_threads(int64_t cols) { return cols >= 2048 ? 1024 : (cols >= 1024 ? 512 : 128); }

void launch_rms_norm(const float* x, int64_t x_stride, const float* w, float eps, float* y, int64_t y_stride,
                     int64_t rows, int64_t cols, cudaStream_t s) {
  if (rows == 0) return;
  // 1024 threads for wide rows: at decode one block does the whole norm, and
  // fewer threads walk the row in more dependent steps (512: ~9 us for 4096).
  rms_norm_kernel<<<unsigned(rows), rms_norm_threads(cols), 0, s>>>(x, x_stride, w, eps, y, y_stride, cols);
  KILN_CUDA_LAUNCHED();
}

void launch_add_rms_norm(const float* a, int64_t as, const float* b, int64_t bs, float* sum, int64_t ss,
                         const float* w, float eps, float* y, int64_t ys, int64_t rows, int64_t cols, cudaStream_t s) {
  if (rows == 0) return;
  add_rms_norm_kernel<<<unsigned(rows), rms_norm_threads(cols), 0, s>>>(a, as, b, bs, sum, ss, w, eps, y, ys, cols);
  KILN_CUDA_LAUNCHED();
}

void launch_rope(float* x, int64_t stride, int64_t rows, int64_t cols, const int32_t* positions, int head_dim,
                 int n_dims, bool neox, const double* inv_freq, cudaStream_t s) {
  if (rows == 0) return;
  const int64_t pairs = cols / head_dim * (n_dims / 2);
  rope_kernel<<<dim3(unsigned(rows), blocks_for(pairs, 128)), 128, 0, s>>>(x, stride, cols, positions, head_dim, n_dims,
                                                                          neox, inv_freq);
  KILN_CUDA_LAUNCHED();
}

void launch_add(const float* a, int64_t as, const float* b, int64_t bs, float* y, int64_t ys, int64_t rows,
                int64_t cols, cudaStream_t s) {
  launch_map(rows, cols, s, [=] __device__(int64_t r, int64_t c) { y[r * ys + c] = a[r * as + c] + b[r * bs + c]; });
}

void launch_add_bias(float* y, int64_t ys, const float* bias, int64_t rows, int64_t cols, cudaStream_t s) {
  launch_map(rows, cols, s, [=] __device__(int64_t r, int64_t c) { y[r * ys + c] += bias[c]; });
}

void launch_scale(float* x, int64_t xs, int64_t rows, int64_t cols, float v, cudaStream_t s) {
  launch_map(rows, cols, s, [=] __device__(int64_t r, int64_t c) { x[r * xs + c] *= v; });
}

void launch_softcap(float* x, int64_t xs, int64_t rows, int64_t cols, float cap, cudaStream_t s) {
  launch_map(rows, cols, s, [=] __device__(int64_t r, int64_t c) { x[r * xs + c] = cap * tanhf(x[r * xs + c] / cap); });
}

void launch_glu(const float* gate, int64_t gs, const float* up, int64_t us, float* y, int64_t ys, int64_t rows,
                int64_t cols, bool gelu, cudaStream_t s) {
  launch_map(rows, cols, s, [=] __device__(int64_t r, int64_t c) {
    const float g = gate[r * gs + c];
    float a;
    if (gelu) {
      constexpr float kSqrt2OverPi = 0.79788456080286535588f;
      a = 0.5f * g * (1.f + tanhf(kSqrt2OverPi * g * (1.f + 0.044715f * g * g)));
    } else {
      a = g / (1.f + expf(-g));
    }
    y[r * ys + c] = a * up[r * us + c];
  });
}

void launch_to_f16(const float* x, int64_t xs, int64_t rows, int64_t cols, void* out, cudaStream_t s) {
  __half* o = static_cast<__half*>(out);
  launch_map(rows, cols, s, [=] __device__(int64_t r, int64_t c) { o[r * cols + c] = __float2half_rn(x[r * xs + c]); });
}

}  // namespace kiln::cuda
