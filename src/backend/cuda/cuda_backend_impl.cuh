#pragma once
// CudaBackend: the Backend interface on one GPU. Everything runs in order on
// one stream; only download() waits for it.
//
// CUDA graphs (KILN_CUDA_GRAPHS, on unless "0"): the ops of a step are not
// launched as they are called but recorded (a closure per op plus a byte
// signature of everything its launch depends on: pointers, sizes, scalars),
// and the step's uploads are copied into a fixed pinned staging buffer. At
// the step's end (download, the next begin_step) the signature is looked up
// among the graphs captured before: a match replays that graph (one launch),
// otherwise the closures are captured into a new graph (or update an old
// one) and it is launched. A step leaves graph mode and runs its ops directly
// ("eager") from the first op that cannot be captured or would change memory
// the recorded ops point to: a GEMM (T > 8, cuBLAS), a workspace that grows,
// a new rope table, a cache moving in, an upload too large for the staging
// buffer. Prefill therefore runs eagerly, decode steps replay.
//
// Memory:
//   weights   uploaded at bind time, quantized blocks as they are in the file;
//   scratch   one device arena sized by reserve_scratch(), bumped by scratch(),
//             reset by begin_step(): no cudaMalloc per step;
//   workspaces (GEMM weight tiles, f16 activations, attention splits, step
//             metadata) grow to their largest size during warm-up, then stay;
//   KV cache  moved into device memory the first time attention() sees the
//             cache (kv::KvCache::move_storage), so no engine change is needed.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels.h"
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

  // Runs whatever ops are recorded but not launched yet (device KV storage
  // calls it before host access; also before any synchronizing call).
  void flush();

  const GraphCounts& graph_stats() const { return gstats_; }

 private:
  // ---- op recording (graph mode)
  static constexpr size_t kOpBytes = 320;
  struct PendingOp {
    alignas(16) unsigned char buf[kOpBytes];
    void (*call)(void*);
  };
  // Runs f now (eager) or records it with a signature made of the bytes of
  // sig... (scalars and pointers, or the launch structs).
  template <class F, class... S>
  void run(const F& f, const S&... sig) {
    if (!recording_) {
      f();
      return;
    }
    static_assert(sizeof(F) <= kOpBytes && std::is_trivially_copyable_v<F> && std::is_trivially_destructible_v<F>,
                  "op closures must be small and trivially copyable");
    PendingOp& op = ops_.emplace_back();
    new (op.buf) F(f);
    op.call = [](void* p) { (*static_cast<F*>(p))(); };
    // The closure's type (its call thunk) names the op.
    const auto thunk = op.call;
    sig_append(&thunk, sizeof thunk);
    (sig_one(sig), ...);
  }
  void sig_append(const void* p, size_t n) {
    const size_t at = sig_.size();
    sig_.resize(at + n);
    std::memcpy(sig_.data() + at, p, n);
  }
  template <class S>
  void sig_one(const S& v) {
    static_assert(std::is_scalar_v<S>, "signature parts are scalars or pointers");
    sig_append(&v, sizeof v);
  }
  void sig_one(const AttentionLaunch& a) {
    sig_one(a.q), sig_one(a.q_stride), sig_one(a.k), sig_one(a.k_stride), sig_one(a.v), sig_one(a.v_stride);
    sig_one(a.out), sig_one(a.out_stride), sig_one(a.n_tokens), sig_one(a.n_heads), sig_one(a.n_kv_heads);
    sig_one(a.head_dim), sig_one(a.scale), sig_one(a.softcap), sig_one(a.positions), sig_one(a.token_seq);
    sig_one(a.slot_mapping), sig_one(a.block_table), sig_one(a.table_stride), sig_one(a.window);
    sig_one(a.max_seq_len);
  }
  void sig_one(const KvLayerView& k) {
    sig_one(k.k_base), sig_one(k.v_base), sig_one(k.block_bytes), sig_one(k.k_head_stride);
    sig_one(k.v_head_stride), sig_one(k.k_row_bytes), sig_one(k.v_row_bytes), sig_one(k.block_size), sig_one(k.q8_0);
  }
  // A segment's ops so far run directly; the rest of the segment runs eagerly.
  void go_eager();
  // Ends the segment: replay, capture or nothing.
  void end_segment();
  void launch_recorded_as_graph();
  // Bytes of host data for an upload, staged in pinned memory (graph mode);
  // nullptr when they do not fit (the caller goes eager).
  void* stage(const void* host, size_t n);
  // Enqueues dst <- host (n bytes, contiguous): staged when recording.
  void upload_bytes(void* dst, const void* host, size_t n);
  // b.ensure(n) that first leaves graph mode when it would reallocate.
  void* workspace(DeviceBuffer& b, size_t n);
  // Activation quantized for the dp4a mat-vec (step 2 of issue 5's decode
  // work): the last one is reused while nothing could have changed it.
  struct QuantKey {
    const void* x = nullptr;
    int64_t stride = 0, rows = 0, cols = 0;
  };
  QuantKey quant_;
  bool quant_once_ = true;
  // The last recorded op when it is an add (segment_, index in ops_, where
  // its signature starts, its operands): an rms_norm of its output recorded
  // right after replaces both with one kernel. KILN_CUDA_FUSE=0: off.
  struct LastAdd {
    uint64_t segment = ~uint64_t(0);
    size_t index = 0, sig_at = 0;
    const float *a = nullptr, *b = nullptr;
    float* y = nullptr;
    int64_t as = 0, bs = 0, ys = 0, rows = 0, cols = 0;
  };
  LastAdd last_add_;
  uint64_t segment_ = 0;
  bool fuse_ = true;  // KILN_CUDA_QUANT_ONCE=0 quantizes for every mat-vec (to measure the reuse)
  void forget_quant() { quant_ = QuantKey{}; }

  bool graphs_enabled_ = false;
  bool recording_ = false;
  bool inflight_ = false;  // launched work that may still read the staging buffer
  std::vector<PendingOp> ops_;
  std::vector<unsigned char> sig_;
  void* staging_ = nullptr;  // pinned
  size_t staging_bytes_ = 0, staging_used_ = 0;
  struct CachedGraph {
    std::vector<unsigned char> sig;
    cudaGraphExec_t exec = nullptr;
    uint64_t last_used = 0;
  };
  std::vector<CachedGraph> graphs_;
  uint64_t graph_clock_ = 0;
  GraphCounts gstats_;
  bool graph_stats_print_ = false;
  // KILN_CUDA_GRAPH_STATS=1 also times, per replayed step, the host's
  // recording (begin_step to the launch), the graph on the GPU (events around
  // cudaGraphLaunch) and the step's wall time up to download()'s return.
  cudaEvent_t graph_ev_[2] = {nullptr, nullptr};
  bool graph_timed_ = false;
  double step_t0_ = 0, launch_t_ = 0;
  double rec_s_ = 0, gpu_ms_ = 0, wall_s_ = 0;
  long timed_steps_ = 0;
  // Handed to device KV storage so host access flushes recorded ops first
  // (cleared when this backend goes away).
  std::shared_ptr<CudaBackend*> flush_handle_;

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
  // KILN_CUDA_MMVQ_ROWS=8, 16 or 32: batched decode steps of 9..64 rows on
  // the dp4a mat-vec, that many token rows per weight load (launches over
  // chunks; the step stays capturable). 0 (the default): those steps go to
  // dequantize + cuBLAS, measured 2.3x faster on Llama-3-8B at 32 rows
  // (docs/performance.md, "Batched decode on the dp4a mat-vec"). The GEMM
  // keeps T > 64 in any case.
  int mmvq_rows_ = 0;

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
