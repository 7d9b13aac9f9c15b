#include "engine/engine.h"

#include <algorithm>
#include <numeric>

#include "backend/registry.h"
#include "core/error.h"
#include "kv/batch_metadata.h"
#include "kv/kv_cache.h"
#include "kv/tier_identity.h"

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
    : config_(std::move(config)), model_path_(model_path), file_(gguf::File::open(model_path)), tokenizer_(tok::Tokenizer::from_gguf(file_)) {
  check_config(config_);
  config_.max_logit_rows = std::min(std::max(config_.max_logit_rows, config_.max_sequences), config_.batch);
  backend_ = backend::make_backend(config_.backend, {.threads = config_.threads});
  model_ = models::load_model(file_, *backend_);

  // KV cache: every group holds what max_sequences sequences of `context`
  // tokens need at most (a window group only its window plus a chunk), plus
  // one block per sequence for a copy-on-write tail.
  kv::CacheConfig cc;
  cc.block_size = config_.block_size;
  cc.type = config_.kv_type;
  cc.max_sequences = config_.max_sequences;
  // Stable across restarts and unique per weights (the GGUF header and
  // size), so prefixes kept on disk are found again only for the same model.
  cc.model_identity = kv::tier::weights_identity(model_path, file_.data_offset()) + "|" +
                      kv::kv_type_name(config_.kv_type) + "|bs" + std::to_string(cc.block_size);
  cc.groups = model_->kv_groups();
  int64_t widest = 0;
  for (kv::LayerGroupConfig& g : cc.groups) {
    const int64_t per_seq = kv::max_blocks_per_sequence(cc, g, config_.context, config_.batch);
    g.num_blocks = int(per_seq * config_.max_sequences + config_.max_sequences);
    if (config_.kv_blocks > 0) g.num_blocks = std::min(g.num_blocks, config_.kv_blocks);
    widest = std::max(widest, (int64_t(config_.context) + cc.block_size - 1) / cc.block_size);
  }
  cache_ = std::make_unique<kv::KvCache>(cc);
  if (!config_.kv_dir.empty()) {
    kv::DiskTierConfig tier;
    tier.directory = config_.kv_dir;
    tier.budget_bytes = config_.kv_disk_bytes;
    cache_->enable_disk_tier(tier);
  }
  meta_ = std::make_unique<kv::BatchMetadata>(*cache_, config_.max_sequences, config_.batch, int(widest));

  backend_->reserve_scratch(model_->scratch_plan(config_.batch, config_.max_logit_rows));
  logits_.resize(size_t(config_.max_logit_rows) * size_t(n_vocab()));
  rows_.resize(size_t(config_.batch));
  std::iota(rows_.begin(), rows_.end(), 0);
  batch_entries_.resize(size_t(config_.max_sequences));
  batch_tokens_.resize(size_t(config_.batch));
  batch_rows_.resize(size_t(config_.max_sequences));
  batch_lengths_.resize(size_t(config_.max_sequences));
  hidden_.resize(size_t(config_.batch) * size_t(n_embd()));

  // GGUF pooling_type: 0 (none) or absent is a decoder model: last token.
  const int64_t pooling = file_.get_int(model_->config().arch_name + ".pooling_type", 0);
  if (pooling == 1) pooling_ = Pooling::Mean;
  else if (pooling == 2) pooling_ = Pooling::Cls;
  else if (pooling == 3 || pooling == 0) pooling_ = Pooling::Last;
  else
    throw kiln::Error(file_.name() + ": pooling_type " + std::to_string(pooling) +
                      " is not supported (kiln pools mean, cls or last)");
}

Engine::~Engine() = default;

Engine::Memory Engine::memory() const {
  Memory m;
  std::error_code ec;
  const uintmax_t file_bytes = std::filesystem::file_size(model_path_, ec);
  m.weights = ec ? 0 : uint64_t(file_bytes);
  for (int g = 0; g < cache_->num_groups(); ++g)
    m.kv_cache += uint64_t(cache_->pool(g).num_blocks()) * uint64_t(cache_->layout(g).block_bytes);
  m.step = uint64_t(model_->scratch_plan(config_.batch, config_.max_logit_rows).tensor_bytes) +
           (logits_.capacity() + hidden_.capacity()) * sizeof(float);
  return m;
}

kv::SeqId Engine::new_sequence() {
  const kv::SeqId id = cache_->create_sequence();
  cache_->reserve(id, config_.context);
  return id;
}

void Engine::free_sequence(kv::SeqId seq) { cache_->free_sequence(seq); }

void Engine::run_batch(std::span<const kv::BatchEntry> entries, std::span<const int32_t> tokens,
                       std::span<const int32_t> rows, bool hidden) {
  size_t appended = 0, offset = 0;
  try {
    for (const kv::BatchEntry& e : entries) {
      batch_lengths_[appended] = cache_->length(e.seq);
      cache_->append(e.seq, tokens.subspan(offset, size_t(e.n_new)));
      ++appended;
      offset += size_t(e.n_new);
    }
    meta_->build(*cache_, entries);
    const backend::Tensor out = model_->forward(*backend_, *cache_, {meta_.get(), tokens, rows, hidden});
    float* dst = hidden ? hidden_.data() : logits_.data();
    if (!rows.empty()) backend_->download(out, dst);
  } catch (...) {
    // Leave every sequence as it was: a scheduler preempts and retries.
    for (size_t i = 0; i < appended; ++i) cache_->truncate(entries[i].seq, batch_lengths_[i]);
    throw;
  }
  for (const kv::BatchEntry& e : entries) cache_->mark_computed(e.seq);
}

void Engine::step(kv::SeqId seq, std::span<const int32_t> tokens, std::span<const int32_t> rows, bool hidden) {
  if (cache_->length(seq) + int64_t(tokens.size()) > config_.context)
    throw kiln::Error("sequence of " + std::to_string(cache_->length(seq)) + " tokens cannot take " +
                      std::to_string(tokens.size()) + " more: the context is " + std::to_string(config_.context));
  const kv::BatchEntry entry{seq, int32_t(tokens.size())};
  run_batch(std::span<const kv::BatchEntry>(&entry, 1), tokens, rows, hidden);
}

std::span<const float> Engine::step(std::span<const BatchItem> items) {
  if (items.empty()) throw kiln::Error("a batched step needs at least one sequence");
  if (items.size() > size_t(config_.max_sequences))
    throw kiln::Error("a batch of " + std::to_string(items.size()) + " sequences exceeds max_sequences " +
                      std::to_string(config_.max_sequences));
  size_t n_tokens = 0, n_rows = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const BatchItem& it = items[i];
    if (it.tokens.empty()) throw kiln::Error("a batch item without tokens");
    if (!cache_->contains(it.seq)) throw kiln::Error("a batch item names an unknown sequence");
    if (cache_->length(it.seq) + int64_t(it.tokens.size()) > config_.context)
      throw kiln::Error("sequence of " + std::to_string(cache_->length(it.seq)) + " tokens cannot take " +
                        std::to_string(it.tokens.size()) + " more: the context is " +
                        std::to_string(config_.context));
    if (n_tokens + it.tokens.size() > size_t(config_.batch))
      throw kiln::Error("a batch of more than " + std::to_string(config_.batch) + " tokens");
    batch_entries_[i] = {it.seq, int32_t(it.tokens.size())};
    std::copy(it.tokens.begin(), it.tokens.end(), batch_tokens_.begin() + long(n_tokens));
    n_tokens += it.tokens.size();
    if (it.want_logits) batch_rows_[n_rows++] = int32_t(n_tokens - 1);
  }
  run_batch(std::span<const kv::BatchEntry>(batch_entries_.data(), items.size()),
            std::span<const int32_t>(batch_tokens_.data(), n_tokens),
            std::span<const int32_t>(batch_rows_.data(), n_rows), false);
  return {logits_.data(), n_rows * size_t(n_vocab())};
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

std::vector<float> Engine::embed(std::span<const int32_t> tokens) {
  if (tokens.empty()) throw kiln::Error("cannot embed an empty input");
  if (int64_t(tokens.size()) > config_.context)
    throw kiln::Error("the input is " + std::to_string(tokens.size()) + " tokens, more than the context of " +
                      std::to_string(config_.context) + " holds (num_ctx)");
  const size_t d = size_t(n_embd());
  std::vector<float> out(d, 0.f);
  const kv::SeqId seq = new_sequence();
  try {
    // Last-token pooling needs only the last row, so a cached prefix (of
    // this or an earlier request) is reused; mean and cls need every row.
    size_t done = 0;
    if (pooling_ == Pooling::Last)
      done = size_t(cache_->attach_prefix(seq, tokens, int64_t(tokens.size()) - 1));
    while (done < tokens.size()) {
      const size_t n = std::min(tokens.size() - done, size_t(config_.batch));
      const bool last_chunk = done + n == tokens.size();
      std::span<const int32_t> rows;
      if (pooling_ == Pooling::Mean) rows = std::span<const int32_t>(rows_.data(), n);
      else if (pooling_ == Pooling::Cls && done == 0) rows = std::span<const int32_t>(rows_.data(), 1);
      else if (pooling_ == Pooling::Last && last_chunk) rows = std::span<const int32_t>(rows_.data() + n - 1, 1);
      step(seq, tokens.subspan(done, n), rows, /*hidden=*/true);
      for (size_t r = 0; r < rows.size(); ++r)
        for (size_t j = 0; j < d; ++j) out[j] += hidden_[r * d + j];
      done += n;
    }
  } catch (...) {
    free_sequence(seq);
    throw;
  }
  free_sequence(seq);
  if (pooling_ == Pooling::Mean)
    for (float& v : out) v /= float(tokens.size());
  return out;
}

int32_t Engine::argmax(std::span<const float> logits) {
  return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

}  // namespace kiln::engine
