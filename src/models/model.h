#pragma once
// A language model: weights bound on a backend and a forward pass that turns
// a batch of tokens into logits, reading and writing K/V through the paged
// cache. One implementation per architecture (llama.cpp, qwen2.cpp, ...).
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "kv/kv_config.h"
#include "models/model_config.h"

namespace kiln::gguf {
class File;
}
namespace kiln::kv {
class KvCache;
class BatchMetadata;
}  // namespace kiln::kv

namespace kiln::models {

// One forward step's input. The tokens are the new tokens of meta's batch in
// order (meta.n_tokens() of them); logit_rows lists which of them (indices
// into tokens, ascending) need logits: usually the last of each sequence.
// With `hidden` set, those rows get the final-normed hidden state (n_embd
// values, the input of the output projection) instead of logits: what
// embeddings pool.
struct StepInput {
  const kv::BatchMetadata* meta = nullptr;
  std::span<const int32_t> tokens;
  std::span<const int32_t> logit_rows;
  bool hidden = false;
};

class Model {
 public:
  virtual ~Model() = default;
  const ModelConfig& config() const { return config_; }

  // The KV cache layer groups this model needs (num_blocks left 0 for the
  // engine to size): one group for full attention, plus one for the
  // sliding-window layers where the architecture has them.
  std::vector<kv::LayerGroupConfig> kv_groups() const;
  // Per-step memory for steps of up to max_tokens tokens of which up to
  // max_logit_rows need logits, or all of them hidden rows (feeds
  // Backend::reserve_scratch).
  backend::ScratchPlan scratch_plan(int64_t max_tokens, int64_t max_logit_rows) const;

  // Starts a backend step (begin_step) and runs the model on the batch.
  // Returns logits [logit_rows.size()][n_vocab] (F32) in backend scratch
  // ([logit_rows.size()][n_embd] hidden rows when in.hidden), valid until the
  // next step. Allocates nothing on the heap.
  virtual backend::Tensor forward(backend::Backend& be, kv::KvCache& cache, const StepInput& in) = 0;

 protected:
  explicit Model(ModelConfig config) : config_(std::move(config)) {}
  ModelConfig config_;
};

// Reads the configuration, picks the architecture and binds the weights.
// Throws kiln::Error naming an unsupported architecture, a missing tensor or
// a tensor of the wrong shape. `file` must outlive the model (weights may be
// views into its mapping).
std::unique_ptr<Model> load_model(const gguf::File& file, backend::Backend& be);

// Per-architecture constructors (one file each).
std::unique_ptr<Model> make_llama(const gguf::File& file, backend::Backend& be, ModelConfig config);
std::unique_ptr<Model> make_qwen2(const gguf::File& file, backend::Backend& be, ModelConfig config);
std::unique_ptr<Model> make_qwen3(const gguf::File& file, backend::Backend& be, ModelConfig config);
std::unique_ptr<Model> make_gemma3(const gguf::File& file, backend::Backend& be, ModelConfig config);

}  // namespace kiln::models
