#pragma once
// Drives a model directly (backend + paged cache + batch metadata) for the
// model tests, without the engine: load, then run token chunks through one
// or more sequences and look at the logits.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "backend/registry.h"
#include "gguf/gguf.h"
#include "kv/batch_metadata.h"
#include "kv/kv_cache.h"
#include "models/model.h"

namespace kiln::models::test {

inline std::filesystem::path model_dir() {
  if (const char* d = std::getenv("KILN_TEST_MODELS")) return d;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : "/root") / ".cache" / "kiln" / "models";
}

struct Harness {
  gguf::File file;
  std::unique_ptr<backend::Backend> be;
  std::unique_ptr<Model> model;
  std::unique_ptr<kv::KvCache> cache;
  std::unique_ptr<kv::BatchMetadata> meta;
  int batch;
  std::vector<float> logits;  // rows of the last step
  std::vector<int32_t> rows;

  Harness(const std::filesystem::path& path, int context, int batch_tokens, kv::KvType type = kv::KvType::F16,
          int max_seqs = 4, int block_size = 32, int threads = 2)
      : file(gguf::File::open(path)), batch(batch_tokens) {
    be = backend::make_backend("cpu", {.threads = threads});
    model = load_model(file, *be);
    kv::CacheConfig cc;
    cc.block_size = block_size;
    cc.type = type;
    cc.max_sequences = max_seqs;
    cc.groups = model->kv_groups();
    for (kv::LayerGroupConfig& g : cc.groups)
      g.num_blocks = int(kv::max_blocks_per_sequence(cc, g, context, batch) * max_seqs + max_seqs);
    cache = std::make_unique<kv::KvCache>(cc);
    meta = std::make_unique<kv::BatchMetadata>(*cache, max_seqs, batch, (context + block_size - 1) / block_size);
    be->reserve_scratch(model->scratch_plan(batch, batch));
    rows.resize(size_t(batch));
    std::iota(rows.begin(), rows.end(), 0);
  }

  int64_t vocab() const { return model->config().n_vocab; }

  // One step over several sequences' new tokens; every token gets logits
  // when all_logits, else only each sequence's last one. Returns the rows.
  std::span<const float> step(std::span<const std::pair<kv::SeqId, std::vector<int32_t>>> work, bool all_logits) {
    std::vector<kv::BatchEntry> entries;
    std::vector<int32_t> tokens, out_rows;
    for (const auto& [seq, toks] : work) {
      cache->append(seq, toks);
      entries.push_back({seq, int32_t(toks.size())});
      for (size_t i = 0; i < toks.size(); ++i) {
        if (all_logits || i + 1 == toks.size()) out_rows.push_back(int32_t(tokens.size()));
        tokens.push_back(toks[i]);
      }
    }
    meta->build(*cache, entries);
    const backend::Tensor t = model->forward(*be, *cache, {meta.get(), tokens, out_rows});
    logits.resize(size_t(t.rows * t.cols));
    be->download(t, logits.data());
    for (const auto& [seq, toks] : work) cache->mark_computed(seq);
    return logits;
  }

  // Runs tokens through seq in chunks of `chunk`, calling fn(i, logits after token i) for every token.
  template <class F>
  void evaluate(kv::SeqId seq, std::span<const int32_t> tokens, int chunk, F&& fn) {
    for (size_t done = 0; done < tokens.size();) {
      const size_t n = std::min(tokens.size() - done, size_t(chunk));
      const std::pair<kv::SeqId, std::vector<int32_t>> w{seq, {tokens.begin() + long(done), tokens.begin() + long(done + n)}};
      const std::span<const float> l = step(std::span(&w, 1), true);
      for (size_t i = 0; i < n; ++i) fn(int64_t(done + i), l.subspan(i * size_t(vocab()), size_t(vocab())));
      done += n;
    }
  }

  static int32_t argmax(std::span<const float> l) { return int32_t(std::max_element(l.begin(), l.end()) - l.begin()); }
};

}  // namespace kiln::models::test
