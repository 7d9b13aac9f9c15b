// Qwen3 (dense): the Llama layout without biases, with an RMSNorm over each
// query and key head before NeoX-style rotary embeddings (QK norm); the head
// dim comes from attention.key_length and need not be n_embd / n_head.
#include <vector>

#include "gguf/gguf.h"
#include "models/model.h"
#include "models/step.h"
#include "models/weights.h"

namespace kiln::models {
namespace {

using backend::Tensor;

struct Layer {
  Tensor attn_norm, wq, wk, wv, wo, q_norm, k_norm;
  Tensor ffn_norm, gate, up, down;
};

class Qwen3 final : public Model {
 public:
  Qwen3(const gguf::File& file, backend::Backend& be, ModelConfig config) : Model(std::move(config)) {
    const ModelConfig& c = config_;
    const int64_t d = c.n_embd, qd = c.n_head * c.head_dim, kvd = c.n_head_kv * c.head_dim;
    WeightBinder w(file, be);
    tok_embd_ = w.get("token_embd.weight", {d, c.n_vocab});
    output_norm_ = w.get("output_norm.weight", {d});
    output_ = w.find("output.weight", {d, c.n_vocab}).value_or(tok_embd_);  // tied embeddings
    for (int il = 0; il < int(c.n_layer); ++il) {
      Layer L;
      L.attn_norm = w.layer(il, "attn_norm.weight", {d});
      L.wq = w.layer(il, "attn_q.weight", {d, qd});
      L.wk = w.layer(il, "attn_k.weight", {d, kvd});
      L.wv = w.layer(il, "attn_v.weight", {d, kvd});
      L.q_norm = w.layer(il, "attn_q_norm.weight", {c.head_dim});
      L.k_norm = w.layer(il, "attn_k_norm.weight", {c.head_dim});
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
      Tensor q_heads = b.q.reshape(c.head_dim), k_heads = b.k.reshape(c.head_dim);
      be.rms_norm(q_heads, L.q_norm, c.rms_eps, q_heads);
      be.rms_norm(k_heads, L.k_norm, c.rms_eps, k_heads);
      rope_and_attend(be, cache, *in.meta, c, il, nullptr, s.positions, b);  // b.att
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

std::unique_ptr<Model> make_qwen3(const gguf::File& file, backend::Backend& be, ModelConfig config) {
  return std::make_unique<Qwen3>(file, be, std::move(config));
}

}  // namespace kiln::models
