#pragma once
// A minimal inference engine: one GGUF model on one backend with a paged KV
// cache, prompts prefilled in chunks and tokens decoded one at a time. The
// scheduler (continuous batching over many sequences) builds on the same
// pieces; this class is what `kiln run`, the reference tests and benchmarks
// drive directly.
//
// Memory is sized at load: the KV cache for max_sequences sequences of up to
// `context` tokens, the backend's step arena for `batch` tokens, the logits
// buffer for max_logit_rows rows. After the first decode step, decode()
// allocates nothing on the heap.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/threadpool.h"
#include "gguf/gguf.h"
#include "kv/kv_types.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace kiln::kv {
class KvCache;
class BatchMetadata;
}  // namespace kiln::kv

namespace kiln::engine {

struct EngineConfig {
  std::string backend = "cpu";
  int threads = 0;          // 0: physical cores
  int context = 4096;       // most tokens one sequence holds
  int max_sequences = 1;    // sequences alive at once
  int batch = 512;          // most tokens per forward step (prefill chunk)
  int max_logit_rows = 1;   // most rows of logits one step returns (evaluate() uses all of them)
  kv::KvType kv_type = kv::KvType::F16;
  int block_size = 32;      // tokens per KV block
};

class Engine {
 public:
  Engine(const std::filesystem::path& model_path, EngineConfig config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineConfig& config() const { return config_; }
  const models::ModelConfig& model_config() const { return model_->config(); }
  const tok::Tokenizer& tokenizer() const { return tokenizer_; }
  backend::Backend& backend() { return *backend_; }
  kv::KvCache& cache() { return *cache_; }
  int64_t n_vocab() const { return model_->config().n_vocab; }

  // A new empty sequence, with bookkeeping reserved for `context` tokens.
  kv::SeqId new_sequence();
  void free_sequence(kv::SeqId seq);

  // Runs tokens through the model after what the sequence holds, in chunks
  // of at most `batch`, and returns the logits after the last one (valid until
  // the next call). Throws kiln::Error if the context would overflow.
  std::span<const float> prefill(kv::SeqId seq, std::span<const int32_t> tokens);
  // Teacher forcing: like prefill, but calls on_logits(i, logits) with the
  // logits after tokens[i], for every i, in order.
  void evaluate(kv::SeqId seq, std::span<const int32_t> tokens,
                runtime::FunctionRef<void(int64_t, std::span<const float>)> on_logits);
  // Appends one token and returns the next-token logits. Allocation-free
  // after warm-up.
  std::span<const float> decode(kv::SeqId seq, int32_t token);

  // Greedy continuation of a prompt (token ids) in a fresh sequence: up to
  // n_predict tokens, stopping after an end-of-generation token.
  std::vector<int32_t> generate_greedy(std::span<const int32_t> prompt, int n_predict);

  // Index of the largest logit (the lowest index on ties).
  static int32_t argmax(std::span<const float> logits);

 private:
  // One forward step over `n` new tokens of seq (already appended);
  // rows: which of them need logits.
  void step(kv::SeqId seq, std::span<const int32_t> tokens, std::span<const int32_t> rows);

  EngineConfig config_;
  gguf::File file_;
  tok::Tokenizer tokenizer_;
  std::unique_ptr<backend::Backend> backend_;
  std::unique_ptr<models::Model> model_;
  std::unique_ptr<kv::KvCache> cache_;
  std::unique_ptr<kv::BatchMetadata> meta_;
  std::vector<float> logits_;    // max_logit_rows x n_vocab
  std::vector<int32_t> rows_;    // 0, 1, 2, ... (logit row indices)
};

}  // namespace kiln::engine
