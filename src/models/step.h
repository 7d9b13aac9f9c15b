#pragma once
// The parts every architecture's forward pass shares: uploading the step's
// token ids and positions, the per-layer work buffers (allocated once per
// step and reused by every layer, so scratch memory does not grow with depth),
// and the final norm + output projection on the rows that need logits.
#include "backend/backend.h"
#include "models/model.h"

namespace kiln::models {

struct StepTensors {
  int64_t n_tokens = 0;
  int64_t n_out = 0;
  backend::Tensor ids;        // I32, 1 x n_tokens
  backend::Tensor positions;  // I32, 1 x n_tokens
  backend::Tensor out_rows;   // I32, 1 x n_out
  bool all_rows = false;      // out_rows == 0..n_tokens-1
  bool hidden = false;        // output_logits stops before the output projection
};

// begin_step(), validation of the input against the batch metadata, uploads.
StepTensors begin_forward(backend::Backend& be, const ModelConfig& c, const StepInput& in);

struct LayerBuffers {
  backend::Tensor h;           // T x n_embd: normed input / projections back to the residual width
  backend::Tensor q, att;      // T x n_head * head_dim
  backend::Tensor k, v;        // T x n_head_kv * head_dim
  backend::Tensor gate, up;    // T x n_ff
};
LayerBuffers layer_buffers(backend::Backend& be, const ModelConfig& c, int64_t n_tokens);

// logits = softcap(norm(x[out_rows]) W_out^T); softcap 0 = none. When
// s.hidden: norm(x[out_rows]) itself (the embedding rows).
backend::Tensor output_logits(backend::Backend& be, const ModelConfig& c, const StepTensors& s,
                              const backend::Tensor& x, const backend::Tensor& norm, const backend::Tensor& head);

// The gated MLP on the normed input in b.h: b.h = down(act(gate b.h) * up b.h),
// through b.gate and b.up.
void gated_mlp(backend::Backend& be, LayerBuffers& b, const backend::Tensor& gate, const backend::Tensor& up,
               const backend::Tensor& down, backend::GluActivation act);

// Rotates b.q and b.k for layer il, stores K/V in the cache and attends:
// b.att = attention(q, k, v) with the model's heads, query scale and softcap.
void rope_and_attend(backend::Backend& be, kv::KvCache& cache, const kv::BatchMetadata& meta, const ModelConfig& c,
                     int il, const float* freq_factors, const backend::Tensor& positions, LayerBuffers& b);

// Rope settings of a layer (gemma3's local layers use their own base).
backend::RopeParams rope_params(const ModelConfig& c, int layer, const float* freq_factors);

}  // namespace kiln::models
