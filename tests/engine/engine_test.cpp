// The minimal engine on the real test models: a factual greedy answer and
// the zero-allocation guarantee of steady-state decoding. Skipped when the
// models are absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "core/alloc_counter.h"
#include "engine/engine.h"
#include "kv/kv_cache.h"

namespace kiln::engine {
namespace {

std::filesystem::path model_path(const char* file) {
  const char* dir = std::getenv("KILN_TEST_MODELS");
  const char* home = std::getenv("HOME");
  return (dir ? std::filesystem::path(dir) : std::filesystem::path(home ? home : "/root") / ".cache/kiln/models") / file;
}

// llama.cpp's greedy answer on the same file (tests/fixtures/reference) starts
// with " Paris"; so must kiln's.
TEST(Engine, QwenGreedyKnowsTheCapitalOfFrance) {
  const auto path = model_path("qwen-0.5b.gguf");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  Engine e(path, {.threads = 2, .context = 256, .batch = 64});
  const std::vector<int32_t> prompt = e.tokenizer().encode("The capital of France is", true, false);
  const std::vector<int32_t> out = e.generate_greedy(prompt, 3);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(e.tokenizer().decode(std::span(out).first(1)), " Paris") << e.tokenizer().decode(out);
  EXPECT_EQ(e.cache().num_sequences(), 0);  // the sequence was freed
}

TEST(Engine, GemmaDecodeAllocatesNothingAfterWarmUp) {
  const auto path = model_path("gemma-3-270m-q4_k_m.gguf");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  Engine e(path, {.threads = 2, .context = 256, .batch = 32, .block_size = 16});
  ASSERT_EQ(e.cache().num_groups(), 2);  // a sliding-window group and a global group
  const std::vector<int32_t> prompt = e.tokenizer().encode("Once upon a time", true, false);
  const kv::SeqId seq = e.new_sequence();
  int32_t next = Engine::argmax(e.prefill(seq, prompt));
  for (int i = 0; i < 3; ++i) next = Engine::argmax(e.decode(seq, next));  // warm-up
  runtime::AllocCounter counter;
  // 40 steps cross at least two block boundaries (new blocks, full blocks
  // hashed into the prefix cache).
  for (int i = 0; i < 40; ++i) next = Engine::argmax(e.decode(seq, next));
  EXPECT_EQ(counter.allocations(), 0u);
  EXPECT_EQ(e.cache().length(seq), int64_t(prompt.size()) + 43);
}

// Several sequences in one step (prompts of different lengths, then one
// decode token each) give the logits each gives alone.
TEST(Engine, GemmaBatchedStepEqualsEachSequenceAlone) {
  const auto path = model_path("gemma-3-270m-q4_k_m.gguf");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  Engine e(path, {.threads = 2, .context = 128, .max_sequences = 3, .batch = 64, .block_size = 16});
  const std::vector<std::vector<int32_t>> prompts = {
      e.tokenizer().encode("The capital of France is", true, false),
      e.tokenizer().encode("Once upon a time, in a small village by the sea, there lived", true, false),
      e.tokenizer().encode("1, 2, 3,", true, false)};
  const size_t V = size_t(e.n_vocab());
  // Alone: the prompt's last logits and those after one greedy token.
  std::vector<std::vector<float>> prefill_alone, decode_alone;
  std::vector<int32_t> next;
  for (const auto& p : prompts) {
    const kv::SeqId seq = e.new_sequence();
    std::span<const float> l = e.prefill(seq, p);
    prefill_alone.emplace_back(l.begin(), l.end());
    next.push_back(Engine::argmax(l));
    l = e.decode(seq, next.back());
    decode_alone.emplace_back(l.begin(), l.end());
    e.free_sequence(seq);
  }
  auto max_diff = [&](std::span<const float> a, const std::vector<float>& b) {
    float d = 0;
    for (size_t i = 0; i < V; ++i) d = std::max(d, std::fabs(a[i] - b[i]));
    return d;
  };
  std::vector<kv::SeqId> seqs;
  std::vector<BatchItem> items;
  for (const auto& p : prompts) {
    seqs.push_back(e.new_sequence());
    items.push_back({seqs.back(), p, true});
  }
  items[1].want_logits = false;  // a prefill chunk that is not the prompt's end
  std::span<const float> rows = e.step(items);
  ASSERT_EQ(rows.size(), 2 * V);
  EXPECT_LT(max_diff(rows.subspan(0, V), prefill_alone[0]), 1e-3f);
  EXPECT_LT(max_diff(rows.subspan(V, V), prefill_alone[2]), 1e-3f);
  // Decode: sequence 1's prompt is complete, so all three take a token.
  std::vector<BatchItem> decode;
  for (size_t i = 0; i < prompts.size(); ++i) decode.push_back({seqs[i], std::span<const int32_t>(&next[i], 1), true});
  rows = e.step(decode);
  ASSERT_EQ(rows.size(), 3 * V);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_LT(max_diff(rows.subspan(i * V, V), decode_alone[i]), 1e-3f) << i;
  for (kv::SeqId s : seqs) e.free_sequence(s);
  EXPECT_NO_THROW(e.cache().check_invariants());
}

TEST(Engine, GemmaBatchedDecodeAllocatesNothingAfterWarmUp) {
  const auto path = model_path("gemma-3-270m-q4_k_m.gguf");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  Engine e(path, {.threads = 2, .context = 128, .max_sequences = 3, .batch = 32, .block_size = 16});
  const std::vector<int32_t> prompt = e.tokenizer().encode("Once upon a time", true, false);
  std::vector<kv::SeqId> seqs;
  std::vector<int32_t> next(3);
  std::vector<BatchItem> items;
  for (size_t i = 0; i < 3; ++i) {
    seqs.push_back(e.new_sequence());
    next[i] = Engine::argmax(e.prefill(seqs[i], std::span(prompt).first(prompt.size() - i)));
    items.push_back({seqs[i], std::span<const int32_t>(&next[i], 1), true});
  }
  auto decode_all = [&] {
    const std::span<const float> rows = e.step(items);
    for (size_t i = 0; i < 3; ++i) next[i] = Engine::argmax(rows.subspan(i * size_t(e.n_vocab()), size_t(e.n_vocab())));
  };
  for (int i = 0; i < 3; ++i) decode_all();  // warm-up
  runtime::AllocCounter counter;
  for (int i = 0; i < 36; ++i) decode_all();  // crosses block boundaries
  EXPECT_EQ(counter.allocations(), 0u);
  for (kv::SeqId s : seqs) e.free_sequence(s);
}

// A batch the cache cannot take leaves every sequence as it was.
TEST(Engine, BatchedStepOutOfBlocksChangesNothing) {
  const auto path = model_path("gemma-3-270m-q4_k_m.gguf");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  Engine e(path, {.threads = 2, .context = 128, .max_sequences = 2, .batch = 64, .block_size = 16, .kv_blocks = 3});
  const std::vector<int32_t> a(30, 2), b(30, 3);
  const kv::SeqId s1 = e.new_sequence(), s2 = e.new_sequence();
  const std::vector<BatchItem> items = {{s1, a, true}, {s2, b, true}};
  EXPECT_THROW(e.step(items), kv::OutOfBlocks);
  EXPECT_EQ(e.cache().length(s1), 0);
  EXPECT_EQ(e.cache().length(s2), 0);
  EXPECT_NO_THROW(e.cache().check_invariants());
  e.free_sequence(s1);
  e.free_sequence(s2);
}

TEST(Engine, GemmaEmbeddingIsTheModelWidthAndDeterministic) {
  const auto path = model_path("gemma-3-270m-q4_k_m.gguf");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  Engine e(path, {.threads = 2, .context = 128, .batch = 16, .block_size = 16});
  EXPECT_EQ(e.pooling(), Pooling::Last);  // a decoder model names no pooling
  const std::vector<int32_t> text = e.tokenizer().encode("Why is the sky blue? Because of Rayleigh scattering.", true, false);
  const std::vector<float> a = e.embed(text);  // several chunks of 16
  const std::vector<float> b = e.embed(text);  // reuses the cached prefix
  ASSERT_EQ(a.size(), size_t(e.n_embd()));
  float norm = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    norm += a[i] * a[i];
    diff = std::max(diff, std::fabs(a[i] - b[i]));
  }
  EXPECT_GT(norm, 0.f);
  EXPECT_LT(diff, 1e-3f * std::sqrt(norm));
  EXPECT_EQ(e.cache().num_sequences(), 0);
}

TEST(Engine, MemoryCountsWeightsCacheAndStep) {
  const auto path = model_path("gemma-3-270m-q4_k_m.gguf");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  const Engine small(path, {.threads = 2, .context = 64, .batch = 16, .block_size = 16});
  const Engine large(path, {.threads = 2, .context = 256, .max_sequences = 2, .batch = 16, .block_size = 16});
  EXPECT_EQ(small.memory().weights, std::filesystem::file_size(path));
  EXPECT_GT(small.memory().kv_cache, 0u);
  EXPECT_GT(small.memory().step, size_t(small.n_vocab()) * 4);
  EXPECT_GT(large.memory().kv_cache, 2 * small.memory().kv_cache);
  EXPECT_EQ(large.memory().total(), large.memory().weights + large.memory().kv_cache + large.memory().step);
}

TEST(Engine, ContextOverflowIsAnError) {
  const auto path = model_path("gemma-3-270m-q4_k_m.gguf");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent";
  Engine e(path, {.threads = 2, .context = 8, .batch = 8});
  const kv::SeqId seq = e.new_sequence();
  const std::vector<int32_t> tokens(9, 2);
  EXPECT_THROW(e.prefill(seq, tokens), kiln::Error);
}

}  // namespace
}  // namespace kiln::engine
