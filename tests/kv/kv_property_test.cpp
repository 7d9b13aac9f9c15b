// Property-based test: thousands of random operations on the cache, checked
// after every step against a naive model that keeps every sequence's tokens
// and recomputes the K/V each position must hold from its whole prefix.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "kv_test_util.h"

namespace kiln::kv {
namespace {

using testing::kv_row;
using testing::prefix_fingerprints;
using testing::stored_row;

struct Params {
  KvType type;
  int block_size;
  int window;  // 0: full-attention group only
  int steps;
  int full_tokens;  // pool sizes in tokens
  int window_tokens;
};

// Everything observable that a failed operation must leave unchanged.
struct Snapshot {
  std::map<SeqId, std::vector<std::vector<BlockId>>> tables;
  std::map<SeqId, int64_t> lengths, computed;
  std::vector<int> free, cached;
  bool operator==(const Snapshot&) const = default;
};

class KvPropertyTest : public ::testing::TestWithParam<Params> {
 protected:
  void SetUp() override {
    const Params p = GetParam();
    // Pools small enough that appends run out of blocks and cached blocks get
    // evicted (up to 16 sequences of up to 200 tokens).
    cache_ = std::make_unique<KvCache>(testing::small_config(p.type, p.block_size, p.window,
                                                             p.full_tokens / p.block_size,
                                                             p.window_tokens / p.block_size));
  }

  Snapshot snapshot() const {
    Snapshot s;
    for (const auto& [id, tokens] : model_) {
      for (int g = 0; g < cache_->num_groups(); ++g) {
        auto t = cache_->block_table(id, g);
        s.tables[id].emplace_back(t.begin(), t.end());
      }
      s.lengths[id] = cache_->length(id);
      s.computed[id] = cache_->computed(id);
    }
    for (int g = 0; g < cache_->num_groups(); ++g) {
      s.free.push_back(cache_->pool(g).free_count());
      s.cached.push_back(cache_->pool(g).cached_count());
    }
    return s;
  }

  std::vector<Token> random_tokens(int64_t n) {
    std::vector<Token> t(static_cast<size_t>(n));
    // A small vocabulary makes equal blocks across unrelated prompts rare but
    // keeps prompts built from shared stems common.
    for (Token& x : t) x = Token(rng_() % 50);
    return t;
  }

  // A prompt that often shares a prefix with a live or earlier sequence.
  std::vector<Token> random_prompt() {
    std::vector<Token> prompt;
    const int kind = int(rng_() % 3);
    if (kind == 0 && !model_.empty()) {
      auto it = std::next(model_.begin(), long(rng_() % model_.size()));
      prompt.assign(it->second.begin(), it->second.begin() + long(rng_() % (it->second.size() + 1)));
    } else if (kind == 1 && !history_.empty()) {
      const std::vector<Token>& h = history_[rng_() % history_.size()];
      prompt.assign(h.begin(), h.begin() + long(rng_() % (h.size() + 1)));
    }
    const std::vector<Token> tail = random_tokens(1 + int64_t(rng_() % uint64_t(2 * cache_->block_size() + 8)));
    prompt.insert(prompt.end(), tail.begin(), tail.end());
    if (int64_t(prompt.size()) > max_length() - 50) prompt.resize(size_t(max_length() - 50));
    return prompt;
  }

  // Longest sequence the test builds: a few blocks, at least 200 tokens.
  int64_t max_length() const { return std::max(200, 6 * cache_->block_size()); }

  // Every position a future query can see must hold the K/V of its prefix.
  void verify_contents(SeqId id) {
    const std::vector<Token>& tokens = model_.at(id);
    ASSERT_EQ(cache_->length(id), int64_t(tokens.size()));
    ASSERT_TRUE(std::equal(tokens.begin(), tokens.end(), cache_->tokens(id).begin()));
    const int64_t n = cache_->computed(id);
    const std::vector<uint64_t> fp = prefix_fingerprints(tokens);
    for (int g = 0; g < cache_->num_groups(); ++g) {
      const LayerGroupConfig& gc = cache_->config().groups[size_t(g)];
      const int64_t begin = gc.window == 0 ? 0 : std::max<int64_t>(0, n - gc.window + 1);
      ASSERT_LE(cache_->first_held_position(id, g), begin) << "group " << g << " dropped a visible position";
      const int kw = gc.n_kv_heads * gc.k_head_dim, vw = gc.n_kv_heads * gc.v_head_dim;
      std::vector<float> k(size_t((n - begin) * kw)), v(size_t((n - begin) * vw)), ek(static_cast<size_t>(kw)), ev(static_cast<size_t>(vw));
      for (int layer : gc.layers) {
        cache_->gather(id, layer, begin, n, k.data(), v.data());
        for (int64_t pos = begin; pos < n; ++pos) {
          kv_row(fp[size_t(pos)], layer, 0, kw, ek.data());
          kv_row(fp[size_t(pos)], layer, 1, vw, ev.data());
          stored_row(cache_->config().type, cache_->layout(g).k_rotation, gc.n_kv_heads, gc.k_head_dim, ek.data());
          stored_row(cache_->config().type, cache_->layout(g).v_rotation, gc.n_kv_heads, gc.v_head_dim, ev.data());
          ASSERT_TRUE(std::equal(ek.begin(), ek.end(), k.begin() + (pos - begin) * kw))
              << "K of seq " << id << " layer " << layer << " pos " << pos;
          ASSERT_TRUE(std::equal(ev.begin(), ev.end(), v.begin() + (pos - begin) * vw))
              << "V of seq " << id << " layer " << layer << " pos " << pos;
        }
      }
    }
  }

  // Appends (one or two chunks before computing) or reports OutOfBlocks with
  // the state untouched. Returns whether the tokens went in.
  bool try_append(SeqId id, const std::vector<Token>& tokens) {
    const Snapshot before = snapshot();
    const int64_t from = cache_->computed(id);
    const bool expect_ok = cache_->can_append(id, int64_t(tokens.size()));
    try {
      cache_->append(id, tokens);
    } catch (const OutOfBlocks& e) {
      EXPECT_FALSE(expect_ok);
      EXPECT_GT(e.needed(), e.available());
      EXPECT_TRUE(snapshot() == before) << "failed append changed the cache";
      ++out_of_blocks_;
      return false;
    }
    EXPECT_TRUE(expect_ok);
    model_[id].insert(model_[id].end(), tokens.begin(), tokens.end());
    if (rng_() % 5 == 0) {  // a second chunk before the forward pass
      const std::vector<Token> more = random_tokens(1 + int64_t(rng_() % 8));
      if (cache_->can_append(id, int64_t(more.size()))) {
        cache_->append(id, more);
        model_[id].insert(model_[id].end(), more.begin(), more.end());
      }
    }
    testing::compute_positions(*cache_, id, from);
    return true;
  }

  void step() {
    const int op = int(rng_() % 100);
    SeqId some = 0;
    if (!model_.empty()) some = std::next(model_.begin(), long(rng_() % model_.size()))->first;

    if (op < 20 || model_.empty()) {  // new sequence, reusing a cached prefix
      if (cache_->num_sequences() == cache_->config().max_sequences) return;
      const std::vector<Token> prompt = random_prompt();
      const SeqId id = cache_->create_sequence();
      const int64_t max_reuse = int64_t(prompt.size()) - 1;
      const int64_t expected = cache_->cached_prefix_length(prompt, max_reuse);
      const int64_t reused = cache_->attach_prefix(id, prompt, max_reuse);
      ASSERT_EQ(reused, expected);
      ASSERT_EQ(reused % cache_->block_size(), 0);
      ASSERT_LE(reused, max_reuse);
      reused_tokens_ += reused;
      model_[id].assign(prompt.begin(), prompt.begin() + reused);
      verify_contents(id);  // attached blocks hold exactly this prefix's K/V
      if (!try_append(id, std::vector<Token>(prompt.begin() + reused, prompt.end()))) {
        cache_->free_sequence(id);
        model_.erase(id);
      }
    } else if (op < 55) {  // decode or prefill chunk
      const int64_t n = rng_() % 3 == 0 ? 1 + int64_t(rng_() % uint64_t(2 * cache_->block_size())) : 1;
      if (cache_->length(some) + n <= max_length()) try_append(some, random_tokens(n));
    } else if (op < 65) {  // fork
      if (cache_->num_sequences() == cache_->config().max_sequences) return;
      const Snapshot before = snapshot();
      const SeqId id = cache_->fork(some);
      ASSERT_EQ(cache_->pool(0).free_count(), before.free[0]) << "fork took blocks";
      model_[id] = model_[some];
    } else if (op < 80) {  // remove a tail
      const int64_t len = cache_->length(some);
      const int64_t n = len == 0 ? 0 : int64_t(rng_() % uint64_t(len + 1));
      if (cache_->can_truncate(some, n)) {
        cache_->truncate(some, n);
        model_[some].resize(size_t(n));
      } else {
        const Snapshot before = snapshot();
        EXPECT_THROW(cache_->truncate(some, n), kiln::Error);
        EXPECT_TRUE(snapshot() == before) << "failed truncate changed the cache";
        ++truncate_refused_;
      }
    } else if (op < 93) {  // free
      history_.push_back(model_[some]);
      if (history_.size() > 20) history_.erase(history_.begin());
      cache_->free_sequence(some);
      model_.erase(some);
    } else {  // lookup only: a live sequence's own tokens are found again
      const std::vector<Token>& tokens = model_[some];
      const int64_t found = cache_->cached_prefix_length(tokens, int64_t(tokens.size()));
      ASSERT_LE(found, int64_t(tokens.size()));
      // Without window groups every full computed block of a live sequence is
      // findable (it is registered, or an equal block is).
      if (GetParam().window == 0) {
        ASSERT_EQ(found, cache_->computed(some) / cache_->block_size() * cache_->block_size());
      }
    }
  }

  std::unique_ptr<KvCache> cache_;
  std::map<SeqId, std::vector<Token>> model_;  // the naive model: tokens per live sequence
  std::vector<std::vector<Token>> history_;    // tokens of freed sequences
  std::mt19937_64 rng_{20251121};
  int64_t out_of_blocks_ = 0, truncate_refused_ = 0, reused_tokens_ = 0;
};

TEST_P(KvPropertyTest, RandomOperationsMatchNaiveModel) {
  for (int i = 0; i < GetParam().steps; ++i) {
    ASSERT_NO_FATAL_FAILURE(step()) << "step " << i;
    ASSERT_NO_THROW(cache_->check_invariants()) << "step " << i;
    for (SeqId id = 0; id < SeqId(cache_->config().max_sequences); ++id)
      ASSERT_EQ(cache_->contains(id), model_.count(id) == 1);
    // Contents of every sequence: each step for the first steps, then every
    // 16th step (a full check costs more than the step itself).
    if (i < 200 || i % 16 == 0) {
      for (const auto& entry : model_) ASSERT_NO_FATAL_FAILURE(verify_contents(entry.first)) << "step " << i;
    }
  }
  // The run must have exercised the interesting paths, not just appends.
  EXPECT_GT(out_of_blocks_, 0);
  EXPECT_GT(reused_tokens_, 0);
  for (const auto& entry : model_) cache_->free_sequence(entry.first);
  model_.clear();
  cache_->check_invariants();
  for (int g = 0; g < cache_->num_groups(); ++g)
    EXPECT_EQ(cache_->pool(g).used_count(), 0) << "blocks leaked in group " << g;
  RecordProperty("out_of_blocks", int(out_of_blocks_));
  RecordProperty("truncate_refused", int(truncate_refused_));
}

INSTANTIATE_TEST_SUITE_P(Configs, KvPropertyTest,
                         ::testing::Values(Params{KvType::F16, 16, 0, 3000, 640, 0}, Params{KvType::F16, 16, 40, 3000, 640, 480},
                                           Params{KvType::Q8_0, 32, 48, 2000, 640, 480},
                                           Params{KvType::Q8_0, 64, 0, 2000, 1536, 0},
                                           Params{KvType::F16, 16, 17, 3000, 640, 320}),
                         [](const ::testing::TestParamInfo<Params>& info) {
                           return std::string(kv_type_name(info.param.type)) + "_bs" +
                                  std::to_string(info.param.block_size) + "_w" + std::to_string(info.param.window);
                         });

}  // namespace
}  // namespace kiln::kv
