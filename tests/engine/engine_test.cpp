// The minimal engine on the real test models: a factual greedy answer and
// the zero-allocation guarantee of steady-state decoding. Skipped when the
// models are absent.
#include <gtest/gtest.h>

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
