#pragma once
// y = x W^T on the CPU for every GGUF weight type a model uses.
//
//   y[t][n] = sum_k x[t][k] * w[n][k]     x: T x K f32, w: N x K of type wt
//
// Quantized weights: each activation row is quantized once per call to int8
// blocks that match the weight format (32-value blocks with an f32 scale for
// the legacy types Q4_0..Q8_0/IQ4_NL; 256-value blocks with per-16 sums for
// the K-quants and IQ4_XS, so the K-quant minimums fold in as one small dot
// per block), then every block product is an exact integer dot product:
// AVX-512 VNNI (vpdpbusd / vpdpwssd), AVX2 (vpmaddubsw / vpmaddwd) or plain C++.
// All paths compute the same integers; they differ only in the order of the
// final f32 additions. F32/F16/BF16 weights are multiplied in f32 (x is not
// quantized). Other types that core/quant can decode (TQ1_0, TQ2_0, MXFP4)
// are dequantized a row at a time and dotted in f32.
//
// The activation scales are rounded as ggml rounds them (an f16 d for the
// 32-value blocks, as Q8_0 stores it), so the integer dots and block scales
// equal llama.cpp's. Error of the quantized path against exact arithmetic on
// the dequantized weights: activation rounding moves each x[k] by at most half
// a step, amax(block)/254, and the f16 scale by at most amax/2048 more, so
// |y - y_exact| <= sum_k |w[n][k]| * amax(block of k) * (1/254 + 1/2048) plus
// f32 rounding (the bound tests/backend/matmul_test.cpp checks).
//
// Threads: the call splits N (and T for prefill) over the pool's threads; it
// allocates nothing once `scratch` is large enough (reserve it at load for the
// largest T and K, see matmul_scratch_bytes).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/threadpool.h"

namespace kiln::cpu {

class PackedWeights;

// Which kernel family runs. Chosen once (from the CPU's features and the
// KILN_CPU override) and kept in MatmulScratch, so a test can run each path.
enum class MatmulIsa { scalar = 0, avx2 = 1, avx512 = 2 };
std::string_view matmul_isa_name(MatmulIsa isa);
// avx512 needs AVX-512 F/BW/VL + VNNI; avx2 needs AVX2/FMA/F16C; else scalar.
MatmulIsa matmul_isa_for(const runtime::CpuFeatures& features);
// matmul_isa_for(runtime::host_cpu_features()).
MatmulIsa host_matmul_isa();

// Whether matmul accepts weights of type wt.
bool matmul_supports(GgmlType wt);

// Bytes of working memory a call needs for T activation rows of K values with
// weights of type wt on a pool of `threads` participants.
size_t matmul_scratch_bytes(GgmlType wt, int64_t T, int64_t K, int threads);

// Working memory of matmul: the quantized activations and per-thread row
// buffers. Either owns its memory (grown by reserve(), or on demand by a call
// that needs more: an allocation at warm-up only) or borrows a caller's block
// (e.g. from a step arena), in which case a call that needs more throws.
class MatmulScratch {
 public:
  explicit MatmulScratch(MatmulIsa isa = host_matmul_isa()) : isa_(isa) {}
  MatmulScratch(MatmulIsa isa, void* memory, size_t bytes);  // borrowed; 64-byte aligned
  MatmulScratch(const MatmulScratch&) = delete;
  MatmulScratch& operator=(const MatmulScratch&) = delete;
  MatmulScratch(MatmulScratch&&) noexcept = default;
  MatmulScratch& operator=(MatmulScratch&&) noexcept = default;

  MatmulIsa isa() const noexcept { return isa_; }
  void set_isa(MatmulIsa isa) noexcept { isa_ = isa; }
  // Makes at least `bytes` available (owned scratch only; a borrowed one
  // throws kiln::Error if it is smaller).
  void reserve(size_t bytes);
  size_t capacity() const noexcept { return bytes_; }
  void* data() const noexcept { return data_; }

 private:
  struct Free {
    void operator()(void* p) const noexcept;
  };
  MatmulIsa isa_;
  std::unique_ptr<void, Free> owned_;
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// y = x W^T as described at the top. Strides are in bytes: x rows x_stride
// apart (>= 4K), weight rows w_stride apart (>= row_bytes(wt, K)), y rows
// y_stride apart (>= 4N). K must be a multiple of wt's block size. y must not
// overlap x or w. Throws kiln::Error for an unsupported type or bad sizes.
void matmul(const float* x, int64_t T, int64_t K, size_t x_stride, const void* w, GgmlType wt, int64_t N,
            size_t w_stride, float* y, size_t y_stride, runtime::ThreadPool& pool, MatmulScratch& scratch);

// The same product with weights repacked at load (packed.h; w.cols() == K):
// the same integer block dots as matmul() on w.original(), so the results
// differ only in the order of f32 additions. The packed rows need
// MatmulIsa::avx512; a scratch of a lower ISA runs matmul() on the original.
void matmul(const float* x, int64_t T, int64_t K, size_t x_stride, const PackedWeights& w, float* y,
            size_t y_stride, runtime::ThreadPool& pool, MatmulScratch& scratch);

}  // namespace kiln::cpu
