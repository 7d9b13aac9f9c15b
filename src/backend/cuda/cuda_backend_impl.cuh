#pragma once
// CudaBackend: the Backend interface on one GPU. Everything runs in order on
// one stream; only download() waits for it.
//
// Memory:
//   weights   uploaded at bind time, quantized blocks as they are in the file;
//   scratch   one device arena sized by reserve_scratch(), bumped by scratch(),
//             reset by begin_step(): no cudaMalloc per step;
//   workspaces (GEMM weight tiles, f16 activations, attention splits, step
//             metadata) grow to their largest size during warm-up, then stay;
//   KV cache  moved into managed memory that prefers this device the first
//             time attention() sees the cache (kv::KvCache::move_storage), so
//             no engine change is needed and host code that inspects the cache
//             (the reference ops in tests) still can.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/profiler.cuh"

namespace kiln::cuda {

class CudaBackend final : public backend::Backend {
 public:
  using Tensor = backend::Tensor;

  CudaBackend();
  ~CudaBackend() override;

  std::string_view name() const override { return "cuda"; }
  Tensor bind_weight(const gguf::TensorInfo& info) override;
  void reserve_scratch(const backend::ScratchPlan& plan) override;
  void begin_step() override;
  Tensor scratch(int64_t rows, int64_t cols, GgmlType type = GgmlType::F32) override;
  void upload(const void* host, Tensor& dst) override;
  void download(const Tensor& src, void* host) override;

  void get_rows(const Tensor& table, const Tensor& ids, Tensor& out) override;
  void matmul(const Tensor& x, const Tensor& w, Tensor& y) override;
  void add_bias(Tensor& y, const Tensor& bias) override;
  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override;
  void rope(Tensor& x, const Tensor& positions, const backend::RopeParams& p) override;
  void add(const Tensor& a, const Tensor& b, Tensor& y) override;
  void scale(Tensor& x, float s) override;
  void glu(const Tensor& gate, const Tensor& up, backend::GluActivation act, Tensor& y) override;
  void softcap(Tensor& x, float cap) override;
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, kv::KvCache& cache, const kv::BatchMetadata& meta,
                 const backend::AttentionParams& p, Tensor& out) override;

  cudaStream_t stream() const { return stream_; }
  size_t weight_bytes() const { return weight_bytes_; }

 private:
  void gemm(const Tensor& x, const Tensor& w, Tensor& y);
  // Device copy of a rope's per-pair inverse frequencies (double), cached by
  // parameters so a model's layers share one upload.
  const double* inv_freq(const backend::RopeParams& p);
  // Moves the cache into this device's memory the first time it is seen.
  void adopt_cache(kv::KvCache& cache);
  // This step's metadata for a layer group on the device (uploaded once per
  // step and group); returns pointers into meta_dev_.
  struct DeviceMeta {
    const int32_t *positions, *token_seq, *slot_mapping, *block_table;
    int table_stride, window, max_seq_len;
  };
  DeviceMeta device_meta(const kv::BatchMetadata& meta, int group, int n_groups);

  // Times the enclosing op when KILN_CUDA_PROFILE=1 (see profiler.cuh).
  struct ProfileScope {
    OpProfiler* p;
    ProfileScope(OpProfiler* profiler, const char* op, const std::string& detail = {}) : p(profiler) {
      if (p) p->begin(detail.empty() ? std::string(op) : std::string(op) + " " + detail);
    }
    ~ProfileScope() {
      if (p) p->end();
    }
  };
  std::unique_ptr<OpProfiler> profiler_;

  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::vector<void*> weights_;
  size_t weight_bytes_ = 0;

  DeviceBuffer arena_;
  size_t arena_used_ = 0;

  DeviceBuffer gemm_x_, gemm_w_, attn_ws_, meta_dev_, rope_dev_, mmvq_ws_;
  // KILN_CUDA_EXACT_MATVEC=1: decode mat-vecs on f32 activations (matvec.cu)
  // instead of int8 ones (mmvq.cu), to tell their rounding apart in checks.
  bool exact_matvec_ = false;

  // Rope tables: parameters and values of each uploaded table (offset in rope_dev_).
  struct RopeTable {
    backend::RopeParams p;
    std::vector<float> factors;
    std::vector<double> values;
  };
  std::vector<RopeTable> rope_tables_;
  bool rope_dirty_ = false;

  // Step metadata: staged on the host, uploaded once per (step, group).
  uint64_t step_ = 0;
  const kv::BatchMetadata* meta_src_ = nullptr;
  uint64_t meta_step_ = ~uint64_t(0);
  std::vector<int32_t> meta_host_;
  std::vector<DeviceMeta> meta_groups_;
};

}  // namespace kiln::cuda
