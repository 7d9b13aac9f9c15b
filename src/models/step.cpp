#include "models/step.h"

#include <string>

#include "core/error.h"
#include "kv/batch_metadata.h"

namespace kiln::models {

using backend::Tensor;

StepTensors begin_forward(backend::Backend& be, const ModelConfig& c, const StepInput& in) {
  if (!in.meta) throw kiln::Error("forward: no batch metadata");
  const int64_t T = int64_t(in.tokens.size());
  if (T == 0 || T != in.meta->n_tokens())
    throw kiln::Error("forward: " + std::to_string(T) + " tokens for a batch of " + std::to_string(in.meta->n_tokens()));
  for (int32_t id : in.tokens)
    if (id < 0 || id >= c.n_vocab)
      throw kiln::Error("forward: token id " + std::to_string(id) + " outside the vocabulary of " + std::to_string(c.n_vocab));
  bool all = int64_t(in.logit_rows.size()) == T;
  for (size_t i = 0; i < in.logit_rows.size(); ++i) {
    const int32_t r = in.logit_rows[i];
    if (r < 0 || r >= T || (i > 0 && r <= in.logit_rows[i - 1]))
      throw kiln::Error("forward: logit rows must be ascending indices below " + std::to_string(T));
    all = all && r == int32_t(i);
  }
  be.begin_step();
  StepTensors s;
  s.n_tokens = T;
  s.n_out = int64_t(in.logit_rows.size());
  s.all_rows = all;
  s.hidden = in.hidden;
  s.ids = be.scratch(1, T, GgmlType::I32);
  be.upload(in.tokens.data(), s.ids);
  s.positions = be.scratch(1, T, GgmlType::I32);
  be.upload(in.meta->positions().data(), s.positions);
  s.out_rows = be.scratch(1, s.n_out, GgmlType::I32);
  if (s.n_out > 0) be.upload(in.logit_rows.data(), s.out_rows);
  return s;
}

LayerBuffers layer_buffers(backend::Backend& be, const ModelConfig& c, int64_t T) {
  LayerBuffers b;
  b.h = be.scratch(T, c.n_embd);
  b.q = be.scratch(T, c.n_head * c.head_dim);
  b.att = be.scratch(T, c.n_head * c.head_dim);
  b.k = be.scratch(T, c.n_head_kv * c.head_dim);
  b.v = be.scratch(T, c.n_head_kv * c.head_dim);
  b.gate = be.scratch(T, c.n_ff);
  b.up = be.scratch(T, c.n_ff);
  return b;
}

Tensor output_logits(backend::Backend& be, const ModelConfig& c, const StepTensors& s, const Tensor& x,
                     const Tensor& norm, const Tensor& head) {
  Tensor xs = be.scratch(s.n_out, c.n_embd);
  if (s.n_out == 0) return be.scratch(0, c.n_vocab);
  if (s.all_rows)
    be.rms_norm(x, norm, c.rms_eps, xs);
  else {
    be.get_rows(x, s.out_rows, xs);
    be.rms_norm(xs, norm, c.rms_eps, xs);
  }
  if (s.hidden) return xs;
  Tensor logits = be.scratch(s.n_out, c.n_vocab);
  be.matmul(xs, head, logits);
  if (c.final_softcap > 0) be.softcap(logits, c.final_softcap);
  return logits;
}

backend::RopeParams rope_params(const ModelConfig& c, int layer, const float* freq_factors) {
  backend::RopeParams p;
  p.style = c.rope_style;
  p.head_dim = int(c.head_dim);
  p.n_dims = int(c.rope_dims);
  const bool local = c.is_swa(layer) && c.arch == Arch::Gemma3;
  p.freq_base = local ? c.rope_base_local : c.rope_base;
  p.freq_scale = local ? 1.0f : c.rope_freq_scale;
  p.freq_factors = local ? nullptr : freq_factors;
  return p;
}

void gated_mlp(backend::Backend& be, LayerBuffers& b, const backend::Tensor& gate, const backend::Tensor& up,
               const backend::Tensor& down, backend::GluActivation act) {
  be.matmul(b.h, gate, b.gate);
  be.matmul(b.h, up, b.up);
  be.glu(b.gate, b.up, act, b.gate);
  be.matmul(b.gate, down, b.h);
}

void rope_and_attend(backend::Backend& be, kv::KvCache& cache, const kv::BatchMetadata& meta, const ModelConfig& c,
                     int il, const float* freq_factors, const backend::Tensor& positions, LayerBuffers& b) {
  const backend::RopeParams rope = rope_params(c, il, freq_factors);
  be.rope(b.q, positions, rope);
  be.rope(b.k, positions, rope);
  be.attention(b.q, b.k, b.v, cache, meta,
               {il, int(c.n_head), int(c.n_head_kv), int(c.head_dim), c.query_scale, c.attn_softcap}, b.att);
}

}  // namespace kiln::models
