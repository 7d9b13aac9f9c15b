#pragma once
// The one interface between the models/engine and the hardware. A model's
// forward pass is a sequence of calls on a Backend; the CPU backend runs each
// op at once on its thread pool, the CUDA backend (later) enqueues kernels on a
// stream and can capture a whole decode step as a graph. Models and the engine
// never branch on which backend they run on, and never dereference
// Tensor::data (it may be device memory).
//
// Conventions: activations are F32, row-major, one row per token:
// x[token][feature]. A weight matrix of GGUF shape [K, N] (ne0 = K, the
// contiguous dimension) is a Tensor with rows = N, cols = K; matmul computes
// y[t][n] = sum_k x[t][k] * w[n][k], i.e. y = x W^T as in llama.cpp.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/dtype.h"

namespace kiln::gguf {
struct TensorInfo;
}
namespace kiln::kv {
class KvCache;
class BatchMetadata;
}  // namespace kiln::kv

namespace kiln::backend {

// A dense 2-D view: rows x cols values of `type`, rows `stride` bytes apart.
// For block-quantized types cols is a multiple of the block size.
struct Tensor {
  void* data = nullptr;
  GgmlType type = GgmlType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t stride = 0;  // bytes between rows

  // Rows [first, first + n).
  Tensor row_range(int64_t first, int64_t n) const;
  // The same memory seen as rows*cols/new_cols rows of new_cols values (only
  // for contiguous tensors; used to treat [token][head*dim] as [token*head][dim]).
  Tensor reshape(int64_t new_cols) const;
  bool contiguous() const;
};

enum class RopeStyle {
  Normal,  // rotate pairs (x[2i], x[2i+1]) — llama
  Neox,    // rotate pairs (x[i], x[i + n_dims/2]) — qwen2/qwen3/gemma3
};

struct RopeParams {
  RopeStyle style = RopeStyle::Normal;
  int head_dim = 0;
  int n_dims = 0;             // rotated dims per head (<= head_dim)
  float freq_base = 10000.f;  // theta_i = pos * freq_scale * base^(-2i/n_dims) / factor_i
  float freq_scale = 1.f;     // linear scaling (1 / rope.scaling.factor)
  // Per-pair divisors (n_dims / 2 values; llama3-style scaling, from
  // rope_freqs.weight or computed at load), or nullptr. Host memory, owned by
  // the model; backends copy it at bind time if they need it elsewhere.
  const float* freq_factors = nullptr;
};

enum class GluActivation { Silu, GeluTanh };

struct AttentionParams {
  int layer = 0;       // model layer (the cache maps it to a group)
  int n_heads = 0;     // query heads
  int n_kv_heads = 0;  // grouped-query: n_heads is a multiple of n_kv_heads
  int head_dim = 0;    // K and V head dimension
  float scale = 0.f;   // applied to q.k (usually 1/sqrt(head_dim))
  float softcap = 0.f; // 0: none; else scores = softcap * tanh(scores / softcap)
};

struct ScratchPlan {
  size_t tensor_bytes = 0;  // sum of the scratch() tensors of one step (with 64-byte alignment)
  int64_t max_tokens = 0;   // rows of the largest step
  int64_t max_row = 0;      // widest activation row a matmul reads
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // ---- weights
  // A tensor for a GGUF weight that matmul/get_rows/norms accept. The CPU
  // backend returns a view into the mapping (or a repacked copy it owns); the
  // CUDA backend uploads it. 1-D weights come back as one row.
  virtual Tensor bind_weight(const gguf::TensorInfo& info) = 0;

  // ---- per-step memory
  // Sizes per-step memory at load for the largest step: the bytes the
  // model's scratch() tensors add up to, plus what the backend's own ops need
  // for up to max_tokens rows whose widest matmul input has max_row values.
  // Invalidates every scratch tensor.
  virtual void reserve_scratch(const ScratchPlan& plan) = 0;
  // Starts a forward step: scratch tensors of the previous step are released.
  virtual void begin_step() = 0;
  // Uninitialised scratch memory valid until the next begin_step(). Never
  // allocates from the heap after warm-up; throws kiln::Error if the arena is
  // too small (it is sized at load from the largest batch).
  virtual Tensor scratch(int64_t rows, int64_t cols, GgmlType type = GgmlType::F32) = 0;
  virtual void upload(const void* host, Tensor& dst) = 0;          // whole tensor
  virtual void download(const Tensor& src, void* host) = 0;        // whole tensor; waits

  // ---- ops (dst may alias an input only where stated)
  // out[i] = table row ids[i] as F32 (dequantized). ids: I32, 1 row of n.
  virtual void get_rows(const Tensor& table, const Tensor& ids, Tensor& out) = 0;
  // y = x W^T (see the header comment). x F32 [T][K], w any weight type [N][K].
  virtual void matmul(const Tensor& x, const Tensor& w, Tensor& y) = 0;
  // y[t] += bias (bias: 1 row of y.cols), in place.
  virtual void add_bias(Tensor& y, const Tensor& bias) = 0;
  // y[r] = x[r] / rms(x[r]) * w  (w: 1 row of x.cols, F32). y may alias x.
  virtual void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) = 0;
  // Rotates each head of x ([T][n_heads * head_dim]) in place; positions: I32,
  // 1 row of T.
  virtual void rope(Tensor& x, const Tensor& positions, const RopeParams& p) = 0;
  // y = a + b (same shapes). y may alias a or b.
  virtual void add(const Tensor& a, const Tensor& b, Tensor& y) = 0;
  // x *= s, in place.
  virtual void scale(Tensor& x, float s) = 0;
  // y = act(gate) * up. y may alias gate or up.
  virtual void glu(const Tensor& gate, const Tensor& up, GluActivation act, Tensor& y) = 0;
  // x = cap * tanh(x / cap), in place.
  virtual void softcap(Tensor& x, float cap) = 0;
  // Writes the new tokens' K and V ([T][n_kv_heads * head_dim], after RoPE)
  // into their cache slots, then for every query token attends over the keys
  // its sequence holds (causal; the layer group's window), reading K/V through
  // the block tables of `meta`. q: [T][n_heads * head_dim]; out: same shape.
  virtual void attention(const Tensor& q, const Tensor& k, const Tensor& v, kv::KvCache& cache,
                         const kv::BatchMetadata& meta, const AttentionParams& p, Tensor& out) = 0;
};

}  // namespace kiln::backend
