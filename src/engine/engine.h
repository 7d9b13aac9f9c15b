#pragma once
// A minimal inference engine: one GGUF model on one backend with a paged KV
// cache, prompts prefilled in chunks and tokens decoded one at a time, or a
// batch of several sequences run in one forward step (step(items): what the
// continuous-batching Scheduler drives). `kiln run`, the reference tests and
// benchmarks use the one-sequence calls directly.
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
struct BatchEntry;
}  // namespace kiln::kv

namespace kiln::engine {

struct EngineConfig {
  std::string backend = "cpu";
  int threads = 0;          // 0: physical cores
  int context = 4096;       // most tokens one sequence holds
  int max_sequences = 1;    // sequences alive at once
  int batch = 512;          // most tokens per forward step (prefill chunk)
  // Most rows of logits one step returns (evaluate() uses all of them);
  // raised to max_sequences so that a batched step can return one row per
  // sequence.
  int max_logit_rows = 1;
  kv::KvType kv_type = kv::KvType::F16;
  int block_size = 32;      // tokens per KV block
  // Blocks per layer group; 0: what max_sequences sequences of `context`
  // tokens need (no sequence ever waits for blocks). A smaller pool relies on
  // the prefix cache and on a scheduler that preempts; a window group never
  // gets more than its default.
  int kv_blocks = 0;
  // KV disk tier (docs/kv-tiers.md): prompt prefixes kept in this directory
  // across restarts, within kv_disk_bytes (KILN_KV_DIR, KILN_KV_DISK_BYTES).
  // Empty: no disk tier.
  std::string kv_dir;
  uint64_t kv_disk_bytes = 0;
};

// One sequence's part of a batched step: `tokens` are appended to it and run
// through the model; want_logits asks for the logits after its last token.
struct BatchItem {
  kv::SeqId seq = 0;
  std::span<const int32_t> tokens;
  bool want_logits = true;
};

// How Engine::embed pools the hidden rows of a text (GGUF <arch>.pooling_type
// values). Decoder models name none: Ollama's runner then returns the last
// token's row, and so does kiln.
enum class Pooling { Mean = 1, Cls = 2, Last = 3 };

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
  const kv::KvCache& cache() const { return *cache_; }
  int64_t n_vocab() const { return model_->config().n_vocab; }
  int64_t n_embd() const { return model_->config().n_embd; }
  Pooling pooling() const { return pooling_; }

  // What the loaded engine holds in memory, in bytes (for /api/ps and the
  // model pool's budget): the GGUF file (memory-mapped), the KV cache's block
  // pools, and the per-step scratch plus logits buffers.
  struct Memory {
    uint64_t weights = 0, kv_cache = 0, step = 0;
    uint64_t total() const { return weights + kv_cache + step; }
  };
  Memory memory() const;

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

  // One forward step over several sequences (distinct, at most
  // max_sequences, at most `batch` tokens in all): appends each item's
  // tokens to its sequence and returns one row of n_vocab logits per item
  // that wants them, in item order (valid until the next call). Throws
  // kv::OutOfBlocks (a scheduler preempts and retries) or kiln::Error for a
  // bad batch or context overflow; either way every sequence is left as it
  // was. Allocation-free after warm-up.
  std::span<const float> step(std::span<const BatchItem> items);

  // The embedding of a text: the final-normed hidden rows (before the output
  // projection) pooled as pooling() says, not normalized. Runs in a
  // temporary sequence, which needs a free sequence slot and blocks for the
  // text (kv::OutOfBlocks otherwise); the K/V it computes are the ones a
  // generation would compute, so its full blocks stay in the prefix cache
  // like any other. Throws kiln::Error for an empty text or one longer than
  // the context.
  std::vector<float> embed(std::span<const int32_t> tokens);

  // Greedy continuation of a prompt (token ids) in a fresh sequence: up to
  // n_predict tokens, stopping after an end-of-generation token.
  std::vector<int32_t> generate_greedy(std::span<const int32_t> prompt, int n_predict);

  // Index of the largest logit (the lowest index on ties).
  static int32_t argmax(std::span<const float> logits);

 private:
  // One forward step over `n` new tokens of seq; rows: which of them need
  // logits (hidden rows when `hidden`).
  void step(kv::SeqId seq, std::span<const int32_t> tokens, std::span<const int32_t> rows, bool hidden = false);
  // Appends each entry's tokens, runs the batch, marks it computed; on any
  // exception the appended tokens are taken back. The output rows land in
  // logits_ (hidden_ when `hidden`).
  void run_batch(std::span<const kv::BatchEntry> entries, std::span<const int32_t> tokens,
                 std::span<const int32_t> rows, bool hidden);

  EngineConfig config_;
  std::filesystem::path model_path_;
  gguf::File file_;
  tok::Tokenizer tokenizer_;
  std::unique_ptr<backend::Backend> backend_;
  std::unique_ptr<models::Model> model_;
  std::unique_ptr<kv::KvCache> cache_;
  std::unique_ptr<kv::BatchMetadata> meta_;
  std::vector<float> logits_;    // max_logit_rows x n_vocab
  std::vector<int32_t> rows_;    // 0, 1, 2, ... (logit row indices)
  // Buffers of step(items), sized at load so that a step allocates nothing.
  std::vector<kv::BatchEntry> batch_entries_;
  std::vector<int32_t> batch_tokens_, batch_rows_;
  std::vector<int64_t> batch_lengths_;
  std::vector<float> hidden_;  // batch x n_embd: embed()'s hidden rows
  Pooling pooling_ = Pooling::Last;
};

}  // namespace kiln::engine
