// Llama 2 / 3 / 3.x: pre-norm decoder, RMSNorm, rotary embeddings on pairs
// (x[2i], x[2i+1]) with optional Llama 3.1 frequency factors, grouped-query
// attention, SwiGLU MLP.
#include <cstring>
#include <vector>

#include "gguf/gguf.h"
#include "models/model.h"
#include "models/step.h"
#include "models/weights.h"

namespace kiln::models {
namespace {

using backend::Tensor;

struct Layer {
  Tensor attn_norm, wq, wk, wv, wo;
  Tensor ffn_norm, gate, up, down;
};

class Llama final : public Model {
 public:
  Llama(const gguf::File& file, backend::Backend& be, ModelConfig config) : Model(std::move(config)) {
    const ModelConfig& c = config_;
    const int64_t d = c.n_embd, qd = c.n_head * c.head_dim, kvd = c.n_head_kv * c.head_dim;
    WeightBinder w(file, be);
    tok_embd_ = w.get("token_embd.weight", {d, c.n_vocab});
    output_norm_ = w.get("output_norm.weight", {d});
    output_ = w.find("output.weight", {d, c.n_vocab}).value_or(tok_embd_);  // tied embeddings
    // Llama 3.1+: the converter stores the rope frequency divisors as a tensor.
    if (const gguf::TensorInfo* rf = file.tensor("rope_freqs.weight")) {
      if (rf->type != GgmlType::F32 || rf->nelements() != c.rope_dims / 2)
        throw kiln::Error(file.name() + ": rope_freqs.weight must hold " + std::to_string(c.rope_dims / 2) + " f32 values");
      config_.rope_factors.resize(size_t(c.rope_dims / 2));
      std::memcpy(config_.rope_factors.data(), rf->data, config_.rope_factors.size() * sizeof(float));
    }
    for (int il = 0; il < int(c.n_layer); ++il) {
      Layer L;
      L.attn_norm = w.layer(il, "attn_norm.weight", {d});
      L.wq = w.layer(il, "attn_q.weight", {d, qd});
      L.wk = w.layer(il, "attn_k.weight", {d, kvd});
      L.wv = w.layer(il, "attn_v.weight", {d, kvd});
      L.wo = w.layer(il, "attn_output.weight", {qd, d});
      L.ffn_norm = w.layer(il, "ffn_norm.weight", {d});
      L.gate = w.layer(il, "ffn_gate.weight", {d, c.n_ff});
      L.up = w.layer(il, "ffn_up.weight", {d, c.n_ff});
      L.down = w.layer(il, "ffn_down.weight", {c.n_ff, d});
      layers_.push_back(L);
    }
  }

  Tensor forward(backend::Backend& be, kv::KvCache& cache, const StepInput& in) override {
    const ModelConfig& c = config_;
    const StepTensors s = begin_forward(be, c, in);
    const float* factors = c.rope_factors.empty() ? nullptr : c.rope_factors.data();
    Tensor x = be.scratch(s.n_tokens, c.n_embd);
    be.get_rows(tok_embd_, s.ids, x);
    LayerBuffers b = layer_buffers(be, c, s.n_tokens);
    for (int il = 0; il < int(c.n_layer); ++il) {
      const Layer& L = layers_[size_t(il)];
      // attention
      be.rms_norm(x, L.attn_norm, c.rms_eps, b.h);
      be.matmul(b.h, L.wq, b.q);
      be.matmul(b.h, L.wk, b.k);
      be.matmul(b.h, L.wv, b.v);
      rope_and_attend(be, cache, *in.meta, c, il, factors, s.positions, b);  // b.att
      be.matmul(b.att, L.wo, b.h);
      be.add(x, b.h, x);
      // MLP
      be.rms_norm(x, L.ffn_norm, c.rms_eps, b.h);
      gated_mlp(be, b, L.gate, L.up, L.down, backend::GluActivation::Silu);  // b.h = down(act(gate h) * up h)
      be.add(x, b.h, x);
    }
    return output_logits(be, c, s, x, output_norm_, output_);
  }

 private:
  Tensor tok_embd_, output_norm_, output_;
  std::vector<Layer> layers_;
};

}  // namespace

std::unique_ptr<Model> make_llama(const gguf::File& file, backend::Backend& be, ModelConfig config) {
  return std::make_unique<Llama>(file, be, std::move(config));
}

}  // namespace kiln::models
