// CudaBackend: memory (weights, arena, uploads) and the dispatch of every op
// to its kernel after the same shape checks the CPU backend makes.
#include "backend/cuda/cuda_backend_impl.cuh"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/kv_storage.cuh"
#include "gguf/gguf.h"
#include "kv/batch_metadata.h"
#include "kv/kv_cache.h"

namespace kiln::cuda {

using backend::Tensor;

namespace {

constexpr size_t kAlign = 256;
constexpr size_t kDefaultArena = size_t(64) << 20;
// Slack for the arena's 256-byte alignment over the plan's 64-byte one.
constexpr size_t kArenaSlack = size_t(1) << 20;
// Pinned staging for a recorded step's uploads (token ids, positions, logit
// rows, KV metadata: a few KiB per decode step); larger uploads run eagerly.
constexpr size_t kStagingBytes = size_t(1) << 20;
// Graphs kept (one per distinct step signature: batch shape, attention
// split bucket, block-table bucket); the least recently used is updated in
// place (cudaGraphExecUpdate) or replaced.
constexpr size_t kMaxGraphs = 8;

// The next power of two >= max(v, lo).
double wall_now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int64_t pow2_bucket(int64_t v, int64_t lo) {
  int64_t b = lo;
  while (b < v) b *= 2;
  return b;
}

std::string shape(const Tensor& t) { return std::to_string(t.rows) + "x" + std::to_string(t.cols); }

void check_f32(const char* op, const Tensor& t) {
  if (t.type != GgmlType::F32) throw kiln::Error(std::string(op) + ": expected an F32 tensor, got " + std::string(type_name(t.type)));
}

void check_same(const char* op, const Tensor& a, const Tensor& b) {
  if (a.rows != b.rows || a.cols != b.cols)
    throw kiln::Error(std::string(op) + ": shapes " + shape(a) + " and " + shape(b) + " differ");
}

float* fptr(const Tensor& t) { return static_cast<float*>(t.data); }
int64_t fstride(const Tensor& t) { return int64_t(t.stride / sizeof(float)); }

}  // namespace

bool device_present() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

std::unique_ptr<backend::Backend> make_cuda_backend() {
  if (!device_present()) throw kiln::Error("backend 'cuda': no CUDA device is visible");
  return std::make_unique<CudaBackend>();
}

GraphCounts graph_counts(const backend::Backend& be) {
  const auto* c = dynamic_cast<const CudaBackend*>(&be);
  return c ? c->graph_stats() : GraphCounts{};
}

CudaBackend::CudaBackend() {
  KILN_CUDA_CHECK(cudaGetDevice(&device_));
  KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  if (cublasCreate(&cublas_) != CUBLAS_STATUS_SUCCESS) throw kiln::Error("cuda backend: cublasCreate failed");
  cublasSetStream(cublas_, stream_);
  arena_.ensure(kDefaultArena);
  if (const char* v = std::getenv("KILN_CUDA_PROFILE"); v && std::string_view(v) == "1")
    profiler_ = std::make_unique<OpProfiler>(stream_);
  if (const char* v = std::getenv("KILN_CUDA_EXACT_MATVEC"); v && std::string_view(v) == "1") exact_matvec_ = true;
  if (const char* v = std::getenv("KILN_CUDA_MMVQ_ROWS")) {
    const int r = std::atoi(v);
    mmvq_rows_ = r <= 0 ? 0 : r >= 32 ? 32 : r >= 16 ? 16 : 8;
  }
  if (const char* v = std::getenv("KILN_CUDA_QUANT_ONCE"); v && std::string_view(v) == "0") quant_once_ = false;
  if (const char* v = std::getenv("KILN_CUDA_FUSE"); v && std::string_view(v) == "0") fuse_ = false;
  // CUDA graphs are opt-in (KILN_CUDA_GRAPHS=1) until a bug is found: with
  // several sequences in the cache, replayed steps wrote K/V out of bounds
  // (compute-sanitizer: kv_store_kernel inside cudaGraphLaunch; `kiln bench
  // --parallel 2`, 9 or 16 segfaulted on an H100, 2026-12-06), while the
  // same steps op by op are right. docs/cuda.md, "CUDA graphs".
  const char* g = std::getenv("KILN_CUDA_GRAPHS");
  graphs_enabled_ = g && std::string_view(g) == "1" && !profiler_;
  if (const char* v = std::getenv("KILN_CUDA_GRAPH_STATS"); v && std::string_view(v) == "1") graph_stats_print_ = true;
  if (graph_stats_print_) {
    KILN_CUDA_CHECK(cudaEventCreate(&graph_ev_[0]));
    KILN_CUDA_CHECK(cudaEventCreate(&graph_ev_[1]));
  }
  if (graphs_enabled_) {
    KILN_CUDA_CHECK(cudaHostAlloc(&staging_, kStagingBytes, cudaHostAllocDefault));
    staging_bytes_ = kStagingBytes;
    ops_.reserve(4096);
    sig_.reserve(size_t(1) << 19);
  }
  recording_ = graphs_enabled_;
  flush_handle_ = std::make_shared<CudaBackend*>(this);
}

CudaBackend::~CudaBackend() {
  try {
    flush();
  } catch (const std::exception&) {
  }
  *flush_handle_ = nullptr;
  cudaStreamSynchronize(stream_);
  if (graph_stats_print_) {
    std::fprintf(stderr, "kiln cuda graphs: %ld replays, %ld captures, %ld updates, %ld eager segments\n",
                 gstats_.replays, gstats_.captures, gstats_.updates, gstats_.eager_segments);
    if (timed_steps_ > 0)
      std::fprintf(stderr,
                   "kiln cuda graphs: per replayed step %.1f us recording on the host, %.1f us graph on the GPU, "
                   "%.1f us begin_step to download\n",
                   1e6 * rec_s_ / double(timed_steps_), 1e3 * gpu_ms_ / double(timed_steps_),
                   1e6 * wall_s_ / double(timed_steps_));
    for (cudaEvent_t e : graph_ev_) cudaEventDestroy(e);
  }
  for (CachedGraph& cg : graphs_)
    if (cg.exec) cudaGraphExecDestroy(cg.exec);
  if (staging_) cudaFreeHost(staging_);
  profiler_.reset();  // prints its table
  for (void* w : weights_) cudaFree(w);
  cublasDestroy(cublas_);
  cudaStreamDestroy(stream_);
}

// ---- recording and graphs

void CudaBackend::go_eager() {
  if (!recording_) return;
  for (PendingOp& op : ops_) op.call(op.buf);
  if (!ops_.empty()) {
    inflight_ = true;
    ++gstats_.eager_segments;
  }
  ops_.clear();
  sig_.clear();
  ++segment_;
  recording_ = false;
}

void CudaBackend::flush() { end_segment(); }

void CudaBackend::end_segment() {
  if (recording_ && !ops_.empty()) launch_recorded_as_graph();
  ops_.clear();
  sig_.clear();
  ++segment_;
  staging_used_ = 0;
  recording_ = graphs_enabled_;
}

void CudaBackend::launch_recorded_as_graph() {
  inflight_ = true;
  const uint64_t now = ++graph_clock_;
  for (CachedGraph& cg : graphs_)
    if (cg.sig == sig_) {
      if (graph_stats_print_ && step_t0_ > 0) {
        launch_t_ = wall_now();
        KILN_CUDA_CHECK(cudaEventRecord(graph_ev_[0], stream_));
      }
      KILN_CUDA_CHECK(cudaGraphLaunch(cg.exec, stream_));
      if (graph_stats_print_ && step_t0_ > 0) {
        KILN_CUDA_CHECK(cudaEventRecord(graph_ev_[1], stream_));
        graph_timed_ = true;
      }
      cg.last_used = now;
      ++gstats_.replays;
      return;
    }
  cudaGraph_t graph = nullptr;
  KILN_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  try {
    for (PendingOp& op : ops_) op.call(op.buf);
  } catch (const std::exception& e) {
    // Something in the step cannot be captured: run it directly from now on.
    cudaStreamEndCapture(stream_, &graph);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    std::fprintf(stderr, "kiln cuda: graph capture failed (%s); CUDA graphs are off from here\n", e.what());
    graphs_enabled_ = false;
    for (PendingOp& op : ops_) op.call(op.buf);
    return;
  }
  KILN_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
  CachedGraph* slot = nullptr;
  if (graphs_.size() < kMaxGraphs) {
    slot = &graphs_.emplace_back();
  } else {
    slot = &*std::min_element(graphs_.begin(), graphs_.end(),
                              [](const CachedGraph& a, const CachedGraph& b) { return a.last_used < b.last_used; });
    cudaGraphExecUpdateResultInfo info{};
    if (cudaGraphExecUpdate(slot->exec, graph, &info) == cudaSuccess) {
      ++gstats_.updates;
    } else {
      cudaGetLastError();
      cudaGraphExecDestroy(slot->exec);
      slot->exec = nullptr;
    }
  }
  if (!slot->exec) {
    const cudaError_t e = cudaGraphInstantiate(&slot->exec, graph, 0);
    if (e != cudaSuccess) {
      cudaGraphDestroy(graph);
      slot->exec = nullptr;
      graphs_.erase(graphs_.begin() + (slot - graphs_.data()));
      throw_cuda(e, "cudaGraphInstantiate", __FILE__, __LINE__);
    }
    ++gstats_.captures;
  }
  cudaGraphDestroy(graph);
  slot->sig = sig_;
  slot->last_used = now;
  KILN_CUDA_CHECK(cudaGraphLaunch(slot->exec, stream_));
}

void* CudaBackend::stage(const void* host, size_t n) {
  const size_t at = (staging_used_ + 15) / 16 * 16;
  if (!staging_ || at + n > staging_bytes_) return nullptr;
  if (inflight_) {
    // A launched step may still read the staging buffer.
    KILN_CUDA_CHECK(cudaStreamSynchronize(stream_));
    inflight_ = false;
  }
  void* p = static_cast<uint8_t*>(staging_) + at;
  std::memcpy(p, host, n);
  staging_used_ = at + n;
  return p;
}

void CudaBackend::upload_bytes(void* dst, const void* host, size_t n) {
  if (n == 0) return;
  if (recording_) {
    if (const void* st = stage(host, n)) {
      run([=, s = stream_] { KILN_CUDA_CHECK(cudaMemcpyAsync(dst, st, n, cudaMemcpyHostToDevice, s)); }, dst, st, n);
      return;
    }
    go_eager();
  }
  KILN_CUDA_CHECK(cudaMemcpyAsync(dst, host, n, cudaMemcpyHostToDevice, stream_));
}

void* CudaBackend::workspace(DeviceBuffer& b, size_t n) {
  if (n > b.bytes()) {
    go_eager();  // recorded ops may point into the old buffer
    if (&b == &mmvq_ws_) forget_quant();
  }
  return b.ensure(n);
}

// ---- memory

Tensor CudaBackend::bind_weight(const gguf::TensorInfo& info) {
  if (!info.data) throw kiln::Error("weight " + info.name + " has no data");
  flush();
  Tensor t;
  t.type = info.type;
  t.cols = info.row_length();
  t.rows = info.nrows();
  t.stride = row_bytes(info.type, t.cols);
  const size_t bytes = t.stride * size_t(t.rows);
  void* d = nullptr;
  const cudaError_t e = cudaMalloc(&d, std::max<size_t>(bytes, 1));
  if (e != cudaSuccess)
    throw kiln::Error("cuda backend: cannot allocate " + std::to_string(bytes) + " bytes of device memory for " +
                      info.name + " (" + std::to_string(weight_bytes_ >> 20) + " MiB of weights already on the GPU)");
  weights_.push_back(d);
  weight_bytes_ += bytes;
  KILN_CUDA_CHECK(cudaMemcpyAsync(d, info.data, bytes, cudaMemcpyHostToDevice, stream_));
  t.data = d;
  return t;
}

void CudaBackend::reserve_scratch(const backend::ScratchPlan& plan) {
  flush();
  forget_quant();
  cudaStreamSynchronize(stream_);
  arena_.ensure(plan.tensor_bytes + kArenaSlack);
  arena_used_ = 0;
  // The GEMM's f16 copy of its input for the largest step.
  gemm_x_.ensure(size_t(std::max<int64_t>(plan.max_tokens, 1)) * size_t(std::max<int64_t>(plan.max_row, 256)) * 2);
}

void CudaBackend::begin_step() {
  flush();
  if (graph_stats_print_) step_t0_ = wall_now();
  forget_quant();
  arena_used_ = 0;
  ++step_;
}

Tensor CudaBackend::scratch(int64_t rows, int64_t cols, GgmlType type) {
  if (rows < 0 || cols < 0) throw kiln::Error("scratch tensor with negative shape");
  Tensor t;
  t.type = type;
  t.rows = rows;
  t.cols = cols;
  t.stride = row_bytes(type, cols);
  const size_t bytes = (t.stride * size_t(rows) + kAlign - 1) / kAlign * kAlign;
  if (arena_used_ + bytes > arena_.bytes())
    throw kiln::Error("cuda scratch arena of " + std::to_string(arena_.bytes()) + " bytes is too small for a " +
                      shape(t) + " tensor (reserve_scratch sizes it for the largest step)");
  t.data = static_cast<uint8_t*>(arena_.get()) + arena_used_;
  arena_used_ += bytes;
  return t;
}

void CudaBackend::upload(const void* host, Tensor& dst) {
  const size_t rb = row_bytes(dst.type, dst.cols);
  if (dst.rows == 0 || rb == 0) return;
  forget_quant();
  if (dst.rows == 1 || dst.stride == rb) {
    upload_bytes(dst.data, host, rb * size_t(dst.rows));
    return;
  }
  go_eager();
  KILN_CUDA_CHECK(cudaMemcpy2DAsync(dst.data, dst.stride, host, rb, rb, size_t(dst.rows), cudaMemcpyHostToDevice, stream_));
}

void CudaBackend::download(const Tensor& src, void* host) {
  flush();
  const size_t rb = row_bytes(src.type, src.cols);
  if (src.rows > 0 && rb > 0)
    KILN_CUDA_CHECK(cudaMemcpy2DAsync(host, rb, src.data, src.stride, rb, size_t(src.rows), cudaMemcpyDeviceToHost, stream_));
  KILN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  inflight_ = false;
  if (graph_timed_) {
    float ms = 0;
    if (cudaEventElapsedTime(&ms, graph_ev_[0], graph_ev_[1]) == cudaSuccess) {
      gpu_ms_ += ms;
      rec_s_ += launch_t_ - step_t0_;
      wall_s_ += wall_now() - step_t0_;
      ++timed_steps_;
    }
    graph_timed_ = false;
    step_t0_ = 0;
  }
  if (profiler_) profiler_->collect();
}

void CudaBackend::get_rows(const Tensor& table, const Tensor& ids, Tensor& out) {
  check_f32("get_rows", out);
  if (ids.type != GgmlType::I32 || ids.rows != 1 || out.rows != ids.cols || out.cols != table.cols)
    throw kiln::Error("get_rows: " + shape(ids) + " ids into " + shape(out) + " from a " + shape(table) + " table");
  forget_quant();
  const ProfileScope prof(profiler_.get(), "get_rows");
  const GgmlType type = table.type;
  const void* tab = table.data;
  const size_t ts = table.stride;
  const int64_t cols = table.cols, trows = table.rows, n = ids.cols, os = fstride(out);
  const int32_t* id = static_cast<const int32_t*>(ids.data);
  float* o = fptr(out);
  run([=, s = stream_] { launch_get_rows(type, tab, ts, cols, trows, id, n, o, os, s); }, type, tab, ts, cols, trows, id,
      n, o, os);
}

void CudaBackend::matmul(const Tensor& x, const Tensor& w, Tensor& y) {
  check_f32("matmul", x);
  check_f32("matmul", y);
  if (x.cols != w.cols || y.rows != x.rows || y.cols != w.rows)
    throw kiln::Error("matmul: x " + shape(x) + " times weight " + shape(w) + "^T into " + shape(y));
  if (w.cols % 8 != 0 || !supported_weight_type(w.type))
    throw kiln::Error("cuda matmul: no kernel for " + std::string(type_name(w.type)) + " weights of " +
                      std::to_string(w.cols) + " columns");
  // Decode-sized steps (one token of each of up to 64 sequences) stay on the
  // dp4a mat-vec: no f16 copy of the weights, and the step can be captured.
  const bool use_mmvq = !exact_matvec_ && x.rows <= (mmvq_rows_ > 0 ? kMaxMmvqTokens : kMaxMatvecTokens) &&
                        mmvq_supported(w.type, w.data, w.stride, w.cols);
  const ProfileScope prof(profiler_.get(), "matmul",
                         profiler_ ? std::string(type_name(w.type)) +
                                         (use_mmvq ? " mmvq " : x.rows <= kMaxMatvecTokens ? " matvec " : " gemm ") +
                                         std::to_string(w.rows) + "x" + std::to_string(w.cols)
                                   : std::string());
  const GgmlType type = w.type;
  const void* wd = w.data;
  const size_t ws = w.stride;
  const int64_t n = w.rows, k = w.cols, xs = fstride(x), T = x.rows, ys = fstride(y);
  const float* xp = fptr(x);
  float* yp = fptr(y);
  if (use_mmvq) {
    void* wsp = workspace(mmvq_ws_, mmvq_workspace_bytes(x.rows, w.cols));
    // Matmuls that share an input (Q/K/V, gate/up) quantize it once: the
    // workspace still holds x when nothing since the last mat-vec on the
    // same x could have written it.
    const bool quantize = !quant_once_ || !(quant_.x == x.data && quant_.stride == xs && quant_.rows == T && quant_.cols == k);
    const int rows = mmvq_rows_;
    run([=, s = stream_] { launch_mmvq(type, wd, ws, n, k, xp, xs, T, yp, ys, wsp, quantize, rows, s); }, type, wd, ws,
        n, k, xp, xs, T, yp, ys, wsp, quantize, rows);
    quant_ = {x.data, xs, T, k};
  } else if (x.rows <= kMaxMatvecTokens) {
    run([=, s = stream_] { launch_matvec(type, wd, ws, n, k, xp, xs, T, yp, ys, s); }, type, wd, ws, n, k, xp, xs, T, yp,
        ys);
  } else {
    go_eager();  // cuBLAS and growing workspaces: not captured
    gemm(x, w, y);
  }
  // y overwrote the quantized activation's source?
  if (quant_.x) {
    const auto* qb = static_cast<const uint8_t*>(quant_.x);
    const uint8_t* qe = qb + size_t(quant_.stride) * 4 * size_t(quant_.rows - 1) + size_t(quant_.cols) * 4;
    const auto* yb = static_cast<const uint8_t*>(y.data);
    const uint8_t* ye = yb + y.stride * size_t(y.rows - 1) + size_t(y.cols) * 4;
    if (y.rows > 0 && yb < qe && qb < ye) forget_quant();
  }
}

// Prefill: weight row tiles dequantized into a workspace, then cuBLAS.
// Quantized weights go through f16 tensor cores (f32 accumulation): the
// weight values are exact in f16 and rounding x to f16 stays well inside the
// error the quantization itself allows. Float weights (F32/F16/BF16) keep f32
// inputs and an f32 GEMM, so they match the reference as closely as the CPU.
void CudaBackend::gemm(const Tensor& x, const Tensor& w, Tensor& y) {
  const int64_t T = x.rows, K = x.cols, N = w.rows;
  const bool float_path = !traits(w.type).quantized;
  const size_t elem = float_path ? 4 : 2;
  constexpr size_t kTileBytes = size_t(64) << 20;
  int64_t tile = std::max<int64_t>(128, int64_t(kTileBytes / (size_t(K) * elem)) / 128 * 128);
  tile = std::min(tile, N);
  const float alpha = 1.f, beta = 0.f;
  const void* x16 = nullptr;
  if (!float_path) {
    x16 = gemm_x_.ensure(size_t(T) * size_t(K) * 2);
    launch_to_f16(fptr(x), fstride(x), T, K, gemm_x_.get(), stream_);
  }
  const bool direct_f32 = w.type == GgmlType::F32 && w.stride == size_t(K) * 4;
  if (!direct_f32) gemm_w_.ensure(size_t(tile) * size_t(K) * elem);
  for (int64_t n0 = 0; n0 < N; n0 += tile) {
    const int64_t nt = std::min(tile, N - n0);
    const void* wt = direct_f32 ? static_cast<const uint8_t*>(w.data) + size_t(n0) * w.stride : gemm_w_.get();
    if (!direct_f32) launch_dequant_rows(w.type, w.data, w.stride, n0, nt, K, gemm_w_.get(), float_path, stream_);
    cublasStatus_t st;
    if (float_path)
      st = cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(nt), int(T), int(K), &alpha, static_cast<const float*>(wt),
                       int(K), fptr(x), int(fstride(x)), &beta, fptr(y) + n0, int(fstride(y)));
    else
      st = cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(nt), int(T), int(K), &alpha, wt, CUDA_R_16F, int(K), x16,
                        CUDA_R_16F, int(K), &beta, fptr(y) + n0, CUDA_R_32F, int(fstride(y)), CUBLAS_COMPUTE_32F,
                        CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
      throw kiln::Error("cuda matmul: cuBLAS failed (" + std::to_string(int(st)) + ") for " + shape(x) + " x " + shape(w) + "^T");
  }
}

void CudaBackend::add_bias(Tensor& y, const Tensor& bias) {
  check_f32("add_bias", y);
  check_f32("add_bias", bias);
  if (bias.rows != 1 || bias.cols != y.cols) throw kiln::Error("add_bias: bias " + shape(bias) + " for " + shape(y));
  forget_quant();
  const ProfileScope prof(profiler_.get(), "add_bias");
  float* yp = fptr(y);
  const float* bp = fptr(bias);
  const int64_t ys = fstride(y), rows = y.rows, cols = y.cols;
  run([=, s = stream_] { launch_add_bias(yp, ys, bp, rows, cols, s); }, yp, ys, bp, rows, cols);
}

void CudaBackend::rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  check_f32("rms_norm", x);
  check_f32("rms_norm", w);
  check_f32("rms_norm", y);
  check_same("rms_norm", x, y);
  if (w.rows != 1 || w.cols != x.cols) throw kiln::Error("rms_norm: weight " + shape(w) + " for rows of " + std::to_string(x.cols));
  forget_quant();
  const ProfileScope prof(profiler_.get(), "rms_norm");
  const float *xp = fptr(x), *wp = fptr(w);
  float* yp = fptr(y);
  const int64_t xs = fstride(x), ys = fstride(y), rows = x.rows, cols = x.cols;
  const LastAdd la = last_add_;  // a copy: last_add_ is reset below
  if (recording_ && la.segment == segment_ && ops_.size() == la.index + 1 && la.y == xp && la.ys == xs &&
      la.rows == rows && la.cols == cols) {
    // x = a + b was recorded just before: one kernel for both.
    ops_.pop_back();
    sig_.resize(la.sig_at);
    last_add_ = LastAdd{};
    const float *ap = la.a, *bp = la.b;
    const int64_t as = la.as, bs = la.bs;
    float* sp = la.y;
    run([=, s = stream_] { launch_add_rms_norm(ap, as, bp, bs, sp, xs, wp, eps, yp, ys, rows, cols, s); }, ap, as, bp, bs,
        sp, xs, wp, eps, yp, ys, rows, cols);
    return;
  }
  run([=, s = stream_] { launch_rms_norm(xp, xs, wp, eps, yp, ys, rows, cols, s); }, xp, xs, wp, eps, yp, ys, rows, cols);
}

const double* CudaBackend::inv_freq(const backend::RopeParams& p) {
  const int half = p.n_dims / 2;
  size_t offset = 0;
  for (const RopeTable& r : rope_tables_) {
    const bool same = r.p.n_dims == p.n_dims && r.p.freq_base == p.freq_base && r.p.freq_scale == p.freq_scale &&
                      (p.freq_factors == nullptr) == r.factors.empty() &&
                      (!p.freq_factors || std::equal(r.factors.begin(), r.factors.end(), p.freq_factors));
    if (same) return static_cast<const double*>(rope_dev_.get()) + offset;
    offset += r.values.size();
  }
  RopeTable r;
  r.p = p;
  if (p.freq_factors) r.factors.assign(p.freq_factors, p.freq_factors + half);
  for (int i = 0; i < half; ++i) {
    double f = double(p.freq_scale) * std::pow(double(p.freq_base), -2.0 * i / p.n_dims);
    if (p.freq_factors) f /= double(p.freq_factors[i]);
    r.values.push_back(f);
  }
  go_eager();  // recorded ropes point into the table buffer, which may move
  rope_tables_.push_back(std::move(r));
  // Re-upload every table (the buffer may have moved); happens once per
  // distinct rope at load/warm-up.
  std::vector<double> all;
  for (const RopeTable& t : rope_tables_) all.insert(all.end(), t.values.begin(), t.values.end());
  rope_dev_.ensure(all.size() * sizeof(double));
  KILN_CUDA_CHECK(cudaMemcpyAsync(rope_dev_.get(), all.data(), all.size() * sizeof(double), cudaMemcpyHostToDevice, stream_));
  return static_cast<const double*>(rope_dev_.get()) + offset;
}

void CudaBackend::rope(Tensor& x, const Tensor& positions, const backend::RopeParams& p) {
  check_f32("rope", x);
  if (p.head_dim <= 0 || x.cols % p.head_dim != 0 || p.n_dims <= 0 || p.n_dims % 2 != 0 || p.n_dims > p.head_dim)
    throw kiln::Error("rope: " + std::to_string(p.n_dims) + " rotated dims in heads of " + std::to_string(p.head_dim) +
                      " over rows of " + std::to_string(x.cols));
  if (positions.type != GgmlType::I32 || positions.rows != 1 || positions.cols != x.rows)
    throw kiln::Error("rope: " + shape(positions) + " positions for " + std::to_string(x.rows) + " rows");
  forget_quant();
  const double* freqs = inv_freq(p);
  const ProfileScope prof(profiler_.get(), "rope");
  float* xp = fptr(x);
  const int64_t xs = fstride(x), rows = x.rows, cols = x.cols;
  const int32_t* pos = static_cast<const int32_t*>(positions.data);
  const int hd = p.head_dim, nd = p.n_dims;
  const bool neox = p.style == backend::RopeStyle::Neox;
  run([=, s = stream_] { launch_rope(xp, xs, rows, cols, pos, hd, nd, neox, freqs, s); }, xp, xs, rows, cols, pos, hd,
      nd, neox, freqs);
}

void CudaBackend::add(const Tensor& a, const Tensor& b, Tensor& y) {
  check_f32("add", a);
  check_f32("add", b);
  check_f32("add", y);
  check_same("add", a, b);
  check_same("add", a, y);
  forget_quant();
  const ProfileScope prof(profiler_.get(), "add");
  const float *ap = fptr(a), *bp = fptr(b);
  float* yp = fptr(y);
  const int64_t as = fstride(a), bs = fstride(b), ys = fstride(y), rows = a.rows, cols = a.cols;
  const size_t sig_at = sig_.size();
  run([=, s = stream_] { launch_add(ap, as, bp, bs, yp, ys, rows, cols, s); }, ap, as, bp, bs, yp, ys, rows, cols);
  if (recording_ && fuse_) last_add_ = {segment_, ops_.size() - 1, sig_at, ap, bp, yp, as, bs, ys, rows, cols};
}

void CudaBackend::scale(Tensor& x, float s) {
  check_f32("scale", x);
  forget_quant();
  const ProfileScope prof(profiler_.get(), "scale");
  float* xp = fptr(x);
  const int64_t xs = fstride(x), rows = x.rows, cols = x.cols;
  run([=, st = stream_] { launch_scale(xp, xs, rows, cols, s, st); }, xp, xs, rows, cols, s);
}

void CudaBackend::glu(const Tensor& gate, const Tensor& up, backend::GluActivation act, Tensor& y) {
  check_f32("glu", gate);
  check_f32("glu", up);
  check_f32("glu", y);
  check_same("glu", gate, up);
  check_same("glu", gate, y);
  forget_quant();
  const ProfileScope prof(profiler_.get(), "glu");
  const float *gp = fptr(gate), *up_ = fptr(up);
  float* yp = fptr(y);
  const int64_t gs = fstride(gate), us = fstride(up), ys = fstride(y), rows = gate.rows, cols = gate.cols;
  const bool gelu = act == backend::GluActivation::GeluTanh;
  run([=, s = stream_] { launch_glu(gp, gs, up_, us, yp, ys, rows, cols, gelu, s); }, gp, gs, up_, us, yp, ys, rows, cols,
      gelu);
}

void CudaBackend::softcap(Tensor& x, float cap) {
  check_f32("softcap", x);
  if (!(cap > 0)) throw kiln::Error("softcap: cap must be positive, got " + std::to_string(cap));
  forget_quant();
  const ProfileScope prof(profiler_.get(), "softcap");
  float* xp = fptr(x);
  const int64_t xs = fstride(x), rows = x.rows, cols = x.cols;
  run([=, s = stream_] { launch_softcap(xp, xs, rows, cols, cap, s); }, xp, xs, rows, cols, cap);
}

void CudaBackend::adopt_cache(kv::KvCache& cache) {
  if (cache.pool(0).storage().owner() == this) return;
  go_eager();
  KILN_CUDA_CHECK(cudaStreamSynchronize(stream_));
  cache.move_storage(
      [&](size_t bytes, int group) { return make_device_kv_storage(bytes, group, device_, this, flush_handle_); });
}

CudaBackend::DeviceMeta CudaBackend::device_meta(const kv::BatchMetadata& meta, int group, int n_groups) {
  if (meta_step_ != step_ || meta_src_ != &meta || size_t(group) >= meta_groups_.size()) {
    // Stage [positions][token_seq] then per group [slots][block table].
    const size_t T = size_t(meta.n_tokens());
    meta_host_.clear();
    meta_host_.insert(meta_host_.end(), meta.positions().begin(), meta.positions().end());
    meta_host_.insert(meta_host_.end(), meta.token_seq().begin(), meta.token_seq().end());
    int max_len = 0;
    for (int32_t l : meta.seq_lens()) max_len = std::max(max_len, int(l));
    // A recorded step keeps its kernel arguments and copy sizes from one
    // decode step to the next, so that its graph replays: block tables are
    // padded to a power-of-two stride and the length that sizes the key
    // splits to a power of two (the kernels read each query's real length
    // from its position; splits past it stay empty).
    const bool fixed = recording_;
    if (fixed) max_len = int(pow2_bucket(max_len, 256));
    struct Offsets {
      size_t slots, table;
      int stride, window;
    };
    std::vector<Offsets> offs;
    for (int g = 0; g < n_groups; ++g) {
      const kv::BatchMetadata::Group grp = meta.group(g);
      Offsets o{meta_host_.size(), 0, grp.stride, grp.window};
      meta_host_.insert(meta_host_.end(), grp.slot_mapping.begin(), grp.slot_mapping.end());
      o.table = meta_host_.size();
      if (fixed && grp.stride > 0) {
        const size_t n_rows = grp.block_table.size() / size_t(grp.stride);
        o.stride = int(pow2_bucket(grp.stride, 16));
        for (size_t r = 0; r < n_rows; ++r) {
          const auto row = grp.block_table.begin() + ptrdiff_t(r * size_t(grp.stride));
          meta_host_.insert(meta_host_.end(), row, row + grp.stride);
          meta_host_.insert(meta_host_.end(), size_t(o.stride - grp.stride), -1);
        }
      } else {
        meta_host_.insert(meta_host_.end(), grp.block_table.begin(), grp.block_table.end());
      }
      offs.push_back(o);
    }
    const size_t bytes = meta_host_.size() * sizeof(int32_t);
    auto* dev = static_cast<int32_t*>(workspace(meta_dev_, bytes));
    upload_bytes(dev, meta_host_.data(), bytes);
    meta_groups_.clear();
    for (const Offsets& o : offs)
      meta_groups_.push_back({dev, dev + T, dev + o.slots, dev + o.table, o.stride, o.window, max_len});
    meta_step_ = step_;
    meta_src_ = &meta;
  }
  if (size_t(group) >= meta_groups_.size()) throw kiln::Error("attention: batch metadata has no layer group " + std::to_string(group));
  return meta_groups_[size_t(group)];
}

void CudaBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, kv::KvCache& cache,
                            const kv::BatchMetadata& meta, const backend::AttentionParams& p, Tensor& out) {
  check_f32("attention", q);
  check_f32("attention", k);
  check_f32("attention", v);
  check_f32("attention", out);
  const int D = p.head_dim;
  if (p.n_kv_heads <= 0 || p.n_heads % p.n_kv_heads != 0 || p.n_heads / p.n_kv_heads > kMaxGroupHeads || D % 32 != 0 ||
      D > kMaxHeadDim)
    throw kiln::Error("cuda attention: " + std::to_string(p.n_heads) + " heads over " + std::to_string(p.n_kv_heads) +
                      " KV heads of dim " + std::to_string(D) + " (supported: up to " + std::to_string(kMaxGroupHeads) +
                      " query heads per KV head, head dim a multiple of 32 up to " + std::to_string(kMaxHeadDim) + ")");
  if (q.rows != meta.n_tokens() || k.rows != q.rows || v.rows != q.rows || out.rows != q.rows ||
      q.cols != int64_t(p.n_heads) * D || k.cols != int64_t(p.n_kv_heads) * D || v.cols != k.cols || out.cols != q.cols)
    throw kiln::Error("attention: q " + shape(q) + ", k " + shape(k) + ", v " + shape(v) + ", out " + shape(out) +
                      " for " + std::to_string(meta.n_tokens()) + " tokens");
  adopt_cache(cache);
  const int g = cache.group_of_layer(p.layer);
  const kv::BlockLayout& l = cache.layout(g);
  KvLayerView kvv;
  kvv.k_base = cache.k_data(p.layer, kv::BlockId(0));
  kvv.v_base = cache.v_data(p.layer, kv::BlockId(0));
  kvv.block_bytes = l.block_bytes;
  kvv.k_head_stride = l.k_head_stride;
  kvv.v_head_stride = l.v_head_stride;
  kvv.k_row_bytes = l.k_row_bytes;
  kvv.v_row_bytes = l.v_row_bytes;
  kvv.block_size = cache.block_size();
  kvv.q8_0 = cache.config().type != kv::KvType::F16;

  const DeviceMeta dm = device_meta(meta, g, cache.num_groups());
  AttentionLaunch a;
  a.q = fptr(q), a.q_stride = fstride(q);
  a.k = fptr(k), a.k_stride = fstride(k);
  a.v = fptr(v), a.v_stride = fstride(v);
  a.out = fptr(out), a.out_stride = fstride(out);
  a.n_tokens = int(q.rows), a.n_heads = p.n_heads, a.n_kv_heads = p.n_kv_heads, a.head_dim = D;
  a.scale = p.scale, a.softcap = p.softcap;
  a.positions = dm.positions, a.token_seq = dm.token_seq, a.slot_mapping = dm.slot_mapping;
  a.block_table = dm.block_table, a.table_stride = dm.table_stride, a.window = dm.window, a.max_seq_len = dm.max_seq_len;
  void* ws = nullptr;
  if (const size_t bytes = attention_workspace_bytes(a)) ws = workspace(attn_ws_, bytes);
  forget_quant();
  const ProfileScope prof(profiler_.get(), "attention", q.rows <= kMaxMatvecTokens ? "decode" : "prefill");
  run([=, s = stream_] { launch_attention(a, kvv, ws, s); }, a, kvv, ws);
}

}  // namespace kiln::cuda
