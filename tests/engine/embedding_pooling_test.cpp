// Engine::embed's pooling on a tiny random-weight llama with a vocabulary of
// its own: GGUF pooling_type 1 (mean) is the average of the last-token
// embeddings of every prefix, 2 (cls) the first token's, and an unknown type
// is a load error. Runs without the real models.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "engine/engine.h"
#include "gguf/gguf.h"
#include "kv/kv_cache.h"

namespace kiln::engine {
namespace {

constexpr int64_t kVocab = 40, kEmbd = 32, kFf = 48, kHeads = 4, kKvHeads = 2, kHeadDim = 8;

// pooling < 0: no pooling_type key (a decoder model).
std::filesystem::path write_tiny_llama(int pooling) {
  gguf::Writer w;
  w.set("general.architecture", gguf::Value::string("llama"));
  w.set("llama.embedding_length", gguf::Value::u32(kEmbd));
  w.set("llama.block_count", gguf::Value::u32(2));
  w.set("llama.feed_forward_length", gguf::Value::u32(kFf));
  w.set("llama.attention.head_count", gguf::Value::u32(kHeads));
  w.set("llama.attention.head_count_kv", gguf::Value::u32(kKvHeads));
  w.set("llama.attention.key_length", gguf::Value::u32(kHeadDim));
  w.set("llama.attention.value_length", gguf::Value::u32(kHeadDim));
  w.set("llama.attention.layer_norm_rms_epsilon", gguf::Value::f32(1e-6f));
  w.set("llama.context_length", gguf::Value::u32(128));
  w.set("llama.rope.freq_base", gguf::Value::f32(10000.f));
  if (pooling >= 0) w.set("llama.pooling_type", gguf::Value::u32(uint32_t(pooling)));
  gguf::Value::Array tokens, scores, types;
  for (int i = 0; i < kVocab; ++i) {
    tokens.push_back(gguf::Value::string(i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : std::string("t") + std::to_string(i)));
    scores.push_back(gguf::Value::f32(-float(i)));
    types.push_back(gguf::Value::i32(i == 0 ? 2 : i < 3 ? 3 : 1));  // unknown, control, normal
  }
  w.set("tokenizer.ggml.model", gguf::Value::string("llama"));
  w.set("tokenizer.ggml.tokens", gguf::Value::array(gguf::ValueType::STRING, std::move(tokens)));
  w.set("tokenizer.ggml.scores", gguf::Value::array(gguf::ValueType::F32, std::move(scores)));
  w.set("tokenizer.ggml.token_type", gguf::Value::array(gguf::ValueType::I32, std::move(types)));
  w.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(1));
  w.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(2));
  std::mt19937 rng(11);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float mean, float sd) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    std::normal_distribution<float> dist(mean, sd);
    for (float& x : v) x = dist(rng);
    std::vector<uint8_t> bytes(v.size() * sizeof(float));
    std::memcpy(bytes.data(), v.data(), bytes.size());
    w.add_tensor(name, GgmlType::F32, shape, bytes);
  };
  add("token_embd.weight", {kEmbd, kVocab}, 0, 1);
  add("output_norm.weight", {kEmbd}, 1, 0.1f);
  add("output.weight", {kEmbd, kVocab}, 0, 0.2f);
  for (int il = 0; il < 2; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    add(b + "attn_norm.weight", {kEmbd}, 1, 0.1f);
    add(b + "attn_q.weight", {kEmbd, kHeads * kHeadDim}, 0, 0.2f);
    add(b + "attn_k.weight", {kEmbd, kKvHeads * kHeadDim}, 0, 0.2f);
    add(b + "attn_v.weight", {kEmbd, kKvHeads * kHeadDim}, 0, 0.2f);
    add(b + "attn_output.weight", {kHeads * kHeadDim, kEmbd}, 0, 0.2f);
    add(b + "ffn_norm.weight", {kEmbd}, 1, 0.1f);
    add(b + "ffn_gate.weight", {kEmbd, kFf}, 0, 0.2f);
    add(b + "ffn_up.weight", {kEmbd, kFf}, 0, 0.2f);
    add(b + "ffn_down.weight", {kFf, kEmbd}, 0, 0.2f);
  }
  const auto path = std::filesystem::temp_directory_path() /
                    ("kiln_pooling_" + std::to_string(pooling) + "_" + std::to_string(::getpid()) + ".gguf");
  w.write(path);
  return path;
}

// Small batches so that the text takes several chunks; 16-token blocks so
// that last-token pooling of the longer prefixes reuses cached blocks.
EngineConfig tiny_config() { return {.threads = 1, .context = 64, .batch = 5, .block_size = 16}; }

void expect_near(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-3f * std::max(1.f, std::fabs(b[i]))) << i;
}

const std::vector<int32_t> kText = [] {
  std::vector<int32_t> t = {1};
  for (int i = 0; i < 36; ++i) t.push_back(3 + (i * 7 + 5) % 37);
  return t;
}();

TEST(EmbeddingPooling, MeanIsTheAverageOfEveryPrefixsLastRow) {
  const auto last_path = write_tiny_llama(-1), mean_path = write_tiny_llama(1);
  Engine last(last_path, tiny_config());
  Engine mean(mean_path, tiny_config());
  EXPECT_EQ(last.pooling(), Pooling::Last);
  EXPECT_EQ(mean.pooling(), Pooling::Mean);
  std::vector<float> average(size_t(kEmbd), 0.f);
  for (size_t n = 1; n <= kText.size(); ++n) {
    const std::vector<float> row = last.embed(std::span(kText).first(n));
    for (size_t j = 0; j < row.size(); ++j) average[j] += row[j] / float(kText.size());
  }
  expect_near(mean.embed(kText), average);
  EXPECT_EQ(mean.cache().num_sequences(), 0);
  EXPECT_NO_THROW(mean.cache().check_invariants());
  std::filesystem::remove(last_path);
  std::filesystem::remove(mean_path);
}

TEST(EmbeddingPooling, ClsIsTheFirstTokensRow) {
  const auto last_path = write_tiny_llama(3), cls_path = write_tiny_llama(2);
  Engine last(last_path, tiny_config());
  Engine cls(cls_path, tiny_config());
  EXPECT_EQ(cls.pooling(), Pooling::Cls);
  expect_near(cls.embed(kText), last.embed(std::span(kText).first(1)));
  // Last pooling of the whole text is another vector.
  const std::vector<float> whole = last.embed(kText), first = cls.embed(kText);
  float diff = 0;
  for (size_t j = 0; j < whole.size(); ++j) diff = std::max(diff, std::fabs(whole[j] - first[j]));
  EXPECT_GT(diff, 1e-3f);
  std::filesystem::remove(last_path);
  std::filesystem::remove(cls_path);
}

TEST(EmbeddingPooling, UnknownPoolingTypeAndBadInputAreErrors) {
  const auto rank_path = write_tiny_llama(4), path = write_tiny_llama(-1);
  EXPECT_THROW(Engine(rank_path, tiny_config()), kiln::Error);
  Engine e(path, tiny_config());
  EXPECT_THROW(e.embed({}), kiln::Error);
  EXPECT_THROW(e.embed(std::vector<int32_t>(65, 3)), kiln::Error);
  std::filesystem::remove(rank_path);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace kiln::engine
