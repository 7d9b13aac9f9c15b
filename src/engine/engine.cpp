#include "engine/engine.h"

#include <algorithm>
#include <numeric>

#include "backend/registry.h"
#include "core/error.h"
#include "kv/batch_metadata.h"
#include "kv/kv_cache.h"

namespace kiln::engine {

namespace {

void check_config(const EngineConfig& c) {
  auto positive = [](int v, const char* what) {
    if (v <= 0) throw kiln::Error(std::string("engine ") + what + " must be positive, got " + std::to_string(v));
  };
  positive(c.context, "context");
  positive(c.max_sequences, "max_sequences");
  positive(c.batch, "batch");
  positive(c.max_logit_rows, "max_logit_rows");
}

}  // namespace

Engine::Engine(const std::filesystem::path& model_path, EngineConfig config)
    : config_(std::move(config)), file_(gguf::File::open(model_path)), tokenizer_(tok::Tokenizer::from_gguf(file_)) {
  check_config(config_);
  config_.max_logit_rows = std::min(config_.max_logit_rows, config_.batch);
  backend_ = backend::make_backend(config_.backend, {.threads = config_.threads});
  model_ = models::load_model(file_, *backend_);

  // KV cache: every group holds what max_sequences sequences of `context`
  // tokens need at most (a window group only its window plus a chunk), plus
  // one block per sequence for a copy-on-write tail.
  kv::CacheConfig cc;
  cc.block_size = config_.block_size;
  cc.type = config_.kv_type;
  cc.max_sequences = config_.max_sequences;
  cc.model_identity = file_.name() + "|" + kv::kv_type_name(config_.kv_type);
  cc.groups = model_->kv_groups();
  int64_t widest = 0;
  for (kv::LayerGroupConfig& g : cc.groups) {
    const int64_t per_seq = kv::max_blocks_per_sequence(cc, g, config_.context, config_.batch);
    g.num_blocks = int(per_seq * config_.max_sequences + config_.max_sequences);
    widest = std::max(widest, (int64_t(config_.context) + cc.block_size - 1) / cc.block_size);
  }
  cache_ = std::make_unique<kv::KvCache>(cc);
  meta_ = std::make_unique<kv::BatchMetadata>(*cache_, config_.max_sequences, config_.batch, int(widest));

  backend_->reserve_scratch(model_->scratch_plan(config_.batch, config_.max_logit_rows));
  logits_.resize(size_t(config_.max_logit_rows) * size_t(n_vocab()));
  rows_.resize(size_t(config_.batch));
  std::iota(rows_.begin(), rows_.end(), 0);
}

Engine::~Engine() = default;

kv::SeqId Engine::new_sequence() {
  const kv::SeqId id = cache_->create_sequence();
  cache_->reserve(id, config_.context);
  return id;
}

void Engine::free_sequence(kv::SeqId seq) { cache_->free_sequence(seq); }

void Engine::step(kv::SeqId seq, std::span<const int32_t> tokens, std::span<const int32_t> rows) {
  if (cache_->length(seq) + int64_t(tokens.size()) > config_.context)
    throw kiln::Error("sequence of " + std::to_string(cache_->length(seq)) + " tokens cannot take " +
                      std::to_string(tokens.size()) + " more: the context is " + std::to_string(config_.context));
  cache_->append(seq, tokens);
  const kv::BatchEntry entry{seq, int32_t(tokens.size())};
  meta_->build(*cache_, std::span<const kv::BatchEntry>(&entry, 1));
  const backend::Tensor logits = model_->forward(*backend_, *cache_, {meta_.get(), tokens, rows});
  backend_->download(logits, logits_.data());
  cache_->mark_computed(seq);
}

std::span<const float> Engine::prefill(kv::SeqId seq, std::span<const int32_t> tokens) {
  if (tokens.empty()) throw kiln::Error("prefill of an empty token list");
  for (size_t done = 0; done < tokens.size();) {
    const size_t n = std::min(tokens.size() - done, size_t(config_.batch));
    const int32_t last = int32_t(n - 1);
    step(seq, tokens.subspan(done, n), std::span<const int32_t>(rows_.data() + last, 1));
    done += n;
  }
  return {logits_.data(), size_t(n_vocab())};
}

void Engine::evaluate(kv::SeqId seq, std::span<const int32_t> tokens,
                      runtime::FunctionRef<void(int64_t, std::span<const float>)> on_logits) {
  const size_t chunk = size_t(config_.max_logit_rows);
  for (size_t done = 0; done < tokens.size();) {
    const size_t n = std::min(tokens.size() - done, chunk);
    step(seq, tokens.subspan(done, n), std::span<const int32_t>(rows_.data(), n));
    for (size_t i = 0; i < n; ++i)
      on_logits(int64_t(done + i), std::span<const float>(logits_.data() + i * size_t(n_vocab()), size_t(n_vocab())));
    done += n;
  }
}

std::span<const float> Engine::decode(kv::SeqId seq, int32_t token) {
  step(seq, std::span<const int32_t>(&token, 1), std::span<const int32_t>(rows_.data(), 1));
  return {logits_.data(), size_t(n_vocab())};
}

std::vector<int32_t> Engine::generate_greedy(std::span<const int32_t> prompt, int n_predict) {
  std::vector<int32_t> out;
  out.reserve(size_t(std::max(n_predict, 0)));
  const kv::SeqId seq = new_sequence();
  try {
    std::span<const float> logits = prefill(seq, prompt);
    while (int(out.size()) < n_predict) {
      const int32_t next = argmax(logits);
      out.push_back(next);
      if (tokenizer_.is_eog(next) || int(out.size()) == n_predict ||
          cache_->length(seq) >= config_.context)
        break;
      logits = decode(seq, next);
    }
  } catch (...) {
    free_sequence(seq);
    throw;
  }
  free_sequence(seq);
  return out;
}

int32_t Engine::argmax(std::span<const float> logits) {
  return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

}  // namespace kiln::engine
