#pragma once
// Launchers of the CUDA backend's kernels, one group per .cu file. They take
// raw device pointers, sizes and strides (in elements unless named *_bytes),
// enqueue on `stream` and return at once; shape checks happen in the backend
// before a launcher is called.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace kiln::cuda {

// ---- elementwise.cu
void launch_get_rows(GgmlType type, const void* table, size_t table_stride_bytes, int64_t cols, int64_t table_rows,
                     const int32_t* ids, int64_t n, float* out, int64_t out_stride, cudaStream_t s);
void launch_rms_norm(const float* x, int64_t x_stride, const float* w, float eps, float* y, int64_t y_stride,
                     int64_t rows, int64_t cols, cudaStream_t s);
// sum = a + b; y = rms_norm(sum) * w, in one pass (same bits as the two
// launches). sum and y may alias a or b.
void launch_add_rms_norm(const float* a, int64_t as, const float* b, int64_t bs, float* sum, int64_t ss,
                         const float* w, float eps, float* y, int64_t ys, int64_t rows, int64_t cols, cudaStream_t s);
// inv_freq: n_dims/2 per-pair inverse frequencies in double (see RopeParams).
void launch_rope(float* x, int64_t stride, int64_t rows, int64_t cols, const int32_t* positions, int head_dim,
                 int n_dims, bool neox, const double* inv_freq, cudaStream_t s);
void launch_add(const float* a, int64_t as, const float* b, int64_t bs, float* y, int64_t ys, int64_t rows,
                int64_t cols, cudaStream_t s);
void launch_add_bias(float* y, int64_t ys, const float* bias, int64_t rows, int64_t cols, cudaStream_t s);
void launch_scale(float* x, int64_t xs, int64_t rows, int64_t cols, float v, cudaStream_t s);
void launch_softcap(float* x, int64_t xs, int64_t rows, int64_t cols, float cap, cudaStream_t s);
void launch_glu(const float* gate, int64_t gs, const float* up, int64_t us, float* y, int64_t ys, int64_t rows,
                int64_t cols, bool gelu, cudaStream_t s);
// f32 [rows][cols] (stride xs) -> contiguous f16 [rows][cols].
void launch_to_f16(const float* x, int64_t xs, int64_t rows, int64_t cols, void* out, cudaStream_t s);

// ---- matvec.cu
// Whether the quantized kernels read this weight type.
bool supported_weight_type(GgmlType type);
// y[t][n] = sum_k x[t][k] w[n][k] for T <= kMaxMatvecTokens rows of x,
// reading the weight blocks directly (one warp per output row).
inline constexpr int kMaxMatvecTokens = 8;
void launch_matvec(GgmlType type, const void* w, size_t w_stride_bytes, int64_t n_rows, int64_t k, const float* x,
                   int64_t xs, int64_t T, float* y, int64_t ys, cudaStream_t s);

// ---- mmvq.cu
// The same product on int8-quantized activations with dp4a (Q4_K, Q6_K, Q5_0,
// Q8_0 weights whose rows are aligned for its loads): faster, with int8
// activation rounding. workspace: mmvq_workspace_bytes(T, k) device bytes;
// it holds the quantized x after the call, and quantize = false skips the
// quantization when it already holds this x (matmuls sharing an input:
// Q/K/V, gate/up).
//
// Batched decode (8 < T <= kMaxMmvqTokens, e.g. one token of each of 32
// sequences) can run here too instead of dequantize + cuBLAS (the backend's
// KILN_CUDA_MMVQ_ROWS; off by default, slower on an 8B model): the T rows
// are quantized at once and the kernel runs over chunks of `rows_per_load`
// token rows (8, 16 or 32): each weight load serves that many rows, the
// weights are read ceil(T / rows_per_load) times.
inline constexpr int kMaxMmvqTokens = 64;
bool mmvq_supported(GgmlType type, const void* w, size_t w_stride_bytes, int64_t k);
size_t mmvq_workspace_bytes(int64_t T, int64_t k);
void launch_mmvq(GgmlType type, const void* w, size_t w_stride_bytes, int64_t n_rows, int64_t k, const float* x,
                 int64_t xs, int64_t T, float* y, int64_t ys, void* workspace, bool quantize, int rows_per_load,
                 cudaStream_t s);
// Rows [first, first + n) of a weight as contiguous f16 (or f32) [n][k].
void launch_dequant_rows(GgmlType type, const void* w, size_t w_stride_bytes, int64_t first, int64_t n, int64_t k,
                         void* out, bool out_f32, cudaStream_t s);

// ---- attention.cu
struct KvLayerView {
  uint8_t* k_base = nullptr;  // this layer's K section in block 0
  uint8_t* v_base = nullptr;
  size_t block_bytes = 0, k_head_stride = 0, v_head_stride = 0, k_row_bytes = 0, v_row_bytes = 0;
  int block_size = 0;
  bool q8_0 = false;  // element type: f16 or ggml q8_0
};
struct AttentionLaunch {
  const float* q = nullptr;
  int64_t q_stride = 0;
  const float* k = nullptr;
  int64_t k_stride = 0;
  const float* v = nullptr;
  int64_t v_stride = 0;
  float* out = nullptr;
  int64_t out_stride = 0;
  int n_tokens = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 0, softcap = 0;
  // Step metadata on the device.
  const int32_t* positions = nullptr;     // [n_tokens]
  const int32_t* token_seq = nullptr;     // [n_tokens] batch entry of each token
  const int32_t* slot_mapping = nullptr;  // [n_tokens]
  const int32_t* block_table = nullptr;   // [n_seqs][table_stride]
  int table_stride = 0;
  int window = 0;
  int max_seq_len = 0;  // longest context of the batch (host side), sizes the key splits
};
// Largest n_heads / n_kv_heads and head_dim the kernel handles.
inline constexpr int kMaxGroupHeads = 16;
inline constexpr int kMaxHeadDim = 256;
// Bytes of workspace launch_attention needs for this batch.
size_t attention_workspace_bytes(const AttentionLaunch& a);
// Stores the tokens' K/V into their slots, then attends (split over keys for
// short batches, combined after).
void launch_attention(const AttentionLaunch& a, const KvLayerView& kv, void* workspace, cudaStream_t s);

}  // namespace kiln::cuda
