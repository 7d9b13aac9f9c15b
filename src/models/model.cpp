// Architecture dispatch and what the engine needs to size memory for a model.
#include "models/model.h"

#include <algorithm>

#include "gguf/gguf.h"

namespace kiln::models {

std::unique_ptr<Model> load_model(const gguf::File& file, backend::Backend& be) {
  ModelConfig config = read_config(file);  // throws for unsupported architectures
  const gguf::TensorInfo* embd = file.tensor("token_embd.weight");
  if (!embd) throw kiln::Error(file.name() + ": missing tensor token_embd.weight");
  config.n_vocab = embd->nrows();
  switch (config.arch) {
    case Arch::Llama: return make_llama(file, be, std::move(config));
    case Arch::Qwen2: return make_qwen2(file, be, std::move(config));
    case Arch::Qwen3: return make_qwen3(file, be, std::move(config));
    case Arch::Gemma3: return make_gemma3(file, be, std::move(config));
  }
  throw kiln::Error("unreachable architecture");
}

std::vector<kv::LayerGroupConfig> Model::kv_groups() const {
  auto group = [&](int window) {
    kv::LayerGroupConfig g;
    g.n_kv_heads = int(config_.n_head_kv);
    g.k_head_dim = int(config_.head_dim);
    g.v_head_dim = int(config_.head_dim);
    g.window = window;
    return g;
  };
  kv::LayerGroupConfig global = group(0), local = group(int(config_.sliding_window));
  for (int il = 0; il < int(config_.n_layer); ++il) (config_.is_swa(il) ? local : global).layers.push_back(il);
  std::vector<kv::LayerGroupConfig> groups;
  if (!global.layers.empty()) groups.push_back(global);
  if (!local.layers.empty()) groups.push_back(local);
  return groups;
}

backend::ScratchPlan Model::scratch_plan(int64_t max_tokens, int64_t max_logit_rows) const {
  const ModelConfig& c = config_;
  const int64_t T = max_tokens, R = max_logit_rows;
  auto f32 = [](int64_t n) { return (size_t(n) * 4 + 63) / 64 * 64; };
  // Mirrors begin_forward, the residual stream, layer_buffers and output_logits.
  size_t bytes = 3 * f32(T) + f32(T * c.n_embd);
  bytes += f32(T * c.n_embd) + 2 * f32(T * c.n_head * c.head_dim) + 2 * f32(T * c.n_head_kv * c.head_dim) +
           2 * f32(T * c.n_ff);
  // The output: R normed rows and their logits, or (embeddings) up to T
  // normed hidden rows.
  bytes += std::max(f32(R * c.n_embd) + f32(R * c.n_vocab), f32(T * c.n_embd)) + 4096;
  backend::ScratchPlan p;
  p.tensor_bytes = bytes;
  p.max_tokens = T;
  p.max_row = std::max({c.n_embd, c.n_head * c.head_dim, c.n_ff});
  return p;
}

}  // namespace kiln::models
