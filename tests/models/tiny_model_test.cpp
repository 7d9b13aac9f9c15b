// Every architecture on tiny random-weight GGUF files: a prompt run as one
// chunk gives the same logits as the same prompt decoded token by token, two
// sequences batched together give what each gives alone, and malformed files
// fail at load with messages naming what is wrong.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/quant/quant.h"
#include "gguf/gguf.h"
#include "harness.h"

namespace kiln::models::test {
namespace {

constexpr int64_t kVocab = 50, kEmbd = 64, kFf = 96, kHeads = 4, kKvHeads = 2, kHeadDim = 16;

struct TinyOptions {
  std::string arch;
  std::string drop;        // a tensor to leave out
  std::string misshape;    // a tensor written with a wrong shape
};

std::filesystem::path write_tiny(const TinyOptions& o) {
  const bool gemma = o.arch == "gemma3";
  const int64_t layers = gemma ? 6 : 2;  // gemma3: layers 0-4 local, 5 global
  gguf::Writer w;
  w.set("general.architecture", gguf::Value::string(o.arch));
  auto key = [&](const char* k) { return o.arch + "." + k; };
  w.set(key("embedding_length"), gguf::Value::u32(kEmbd));
  w.set(key("block_count"), gguf::Value::u32(uint32_t(layers)));
  w.set(key("feed_forward_length"), gguf::Value::u32(kFf));
  w.set(key("attention.head_count"), gguf::Value::u32(kHeads));
  w.set(key("attention.head_count_kv"), gguf::Value::u32(kKvHeads));
  w.set(key("attention.key_length"), gguf::Value::u32(kHeadDim));
  w.set(key("attention.value_length"), gguf::Value::u32(kHeadDim));
  w.set(key("attention.layer_norm_rms_epsilon"), gguf::Value::f32(1e-6f));
  w.set(key("context_length"), gguf::Value::u32(256));
  w.set(key("rope.freq_base"), gguf::Value::f32(10000.f));
  if (gemma) w.set(key("attention.sliding_window"), gguf::Value::u32(8));
  std::mt19937 rng(7);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float mean, float sd, GgmlType type = GgmlType::F32) {
    if (name == o.drop) return;
    if (name == o.misshape) shape[0] *= 2;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    std::normal_distribution<float> dist(mean, sd);
    for (float& x : v) x = dist(rng);
    std::vector<uint8_t> bytes(row_bytes(type, n));
    quantize_row(type, v.data(), bytes.data(), n);
    w.add_tensor(name, type, shape, bytes);
  };
  add("token_embd.weight", {kEmbd, kVocab}, 0, 1);
  add("output_norm.weight", {kEmbd}, 1, 0.1f);
  if (!gemma) add("output.weight", {kEmbd, kVocab}, 0, 0.2f, GgmlType::Q8_0);
  for (int64_t il = 0; il < layers; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    add(b + "attn_norm.weight", {kEmbd}, 1, 0.1f);
    add(b + "attn_q.weight", {kEmbd, kHeads * kHeadDim}, 0, 0.2f);
    add(b + "attn_k.weight", {kEmbd, kKvHeads * kHeadDim}, 0, 0.2f);
    add(b + "attn_v.weight", {kEmbd, kKvHeads * kHeadDim}, 0, 0.2f);
    add(b + "attn_output.weight", {kHeads * kHeadDim, kEmbd}, 0, 0.2f, GgmlType::Q8_0);
    if (o.arch == "qwen2") {
      add(b + "attn_q.bias", {kHeads * kHeadDim}, 0, 0.2f);
      add(b + "attn_k.bias", {kKvHeads * kHeadDim}, 0, 0.2f);
      add(b + "attn_v.bias", {kKvHeads * kHeadDim}, 0, 0.2f);
    }
    if (o.arch == "qwen3" || gemma) {
      add(b + "attn_q_norm.weight", {kHeadDim}, 1, 0.1f);
      add(b + "attn_k_norm.weight", {kHeadDim}, 1, 0.1f);
    }
    if (gemma) {
      add(b + "post_attention_norm.weight", {kEmbd}, 1, 0.1f);
      add(b + "post_ffw_norm.weight", {kEmbd}, 1, 0.1f);
    }
    add(b + "ffn_norm.weight", {kEmbd}, 1, 0.1f);
    add(b + "ffn_gate.weight", {kEmbd, kFf}, 0, 0.2f, GgmlType::Q8_0);
    add(b + "ffn_up.weight", {kEmbd, kFf}, 0, 0.2f);
    add(b + "ffn_down.weight", {kFf, kEmbd}, 0, 0.2f, GgmlType::Q8_0);
  }
  const auto path = std::filesystem::temp_directory_path() /
                    ("kiln_tiny_" + o.arch + "_" + o.drop + o.misshape + "_" + std::to_string(::getpid()) + ".gguf");
  w.write(path);
  return path;
}

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}

class TinyModel : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyModel, ChunkedPrefillEqualsTokenByTokenDecode) {
  const auto path = write_tiny({GetParam()});
  Harness h(path, 64, 32, kv::KvType::F16, 4, 16);
  std::vector<int32_t> prompt(21);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 13 + 3) % kVocab);
  std::vector<float> chunked;
  const kv::SeqId a = h.cache->create_sequence(), b = h.cache->create_sequence();
  h.evaluate(a, prompt, 32, [&](int64_t, std::span<const float> l) { chunked.insert(chunked.end(), l.begin(), l.end()); });
  h.evaluate(b, prompt, 1, [&](int64_t i, std::span<const float> l) {
    EXPECT_LT(max_abs_diff(l, std::span(chunked).subspan(size_t(i) * kVocab, kVocab)), 2e-3) << "position " << i;
  });
  // Two sequences in one step give what one gives alone.
  const std::vector<int32_t> more = {5, 9, 11};
  const std::vector<std::pair<kv::SeqId, std::vector<int32_t>>> both = {{a, more}, {b, more}};
  const std::span<const float> rows = h.step(both, false);
  const std::vector<float> batched(rows.begin(), rows.end());
  std::vector<int32_t> whole = prompt;
  whole.insert(whole.end(), more.begin(), more.end());
  const kv::SeqId c = h.cache->create_sequence();
  const std::pair<kv::SeqId, std::vector<int32_t>> alone{c, whole};
  const std::span<const float> single = h.step(std::span(&alone, 1), false);
  EXPECT_LT(max_abs_diff(single, std::span(batched).first(kVocab)), 2e-3);
  EXPECT_LT(max_abs_diff(single, std::span(batched).subspan(kVocab)), 2e-3);
  EXPECT_GT(max_abs_diff(single, std::span(chunked).last(kVocab)), 1e-3);  // the extra tokens mattered
  std::filesystem::remove(path);
}

// Embedding mode: the head step returns the final-normed hidden rows instead
// of logits. Gemma's output is tied to its F32 token embeddings here, so the
// logits must be those rows projected onto the embedding rows.
TEST(TinyModelHidden, RowsAreWhatTheOutputProjectionSees) {
  const auto path = write_tiny({"gemma3"});
  Harness h(path, 64, 32, kv::KvType::F16, 4, 16);
  const std::vector<int32_t> tokens = {3, 14, 15, 9, 26, 5};
  std::vector<float> logits, hidden;
  for (bool want_hidden : {false, true}) {
    const kv::SeqId seq = h.cache->create_sequence();
    h.cache->append(seq, tokens);
    const kv::BatchEntry entry{seq, int32_t(tokens.size())};
    h.meta->build(*h.cache, std::span(&entry, 1));
    const std::vector<int32_t> rows = {2, 5};
    const backend::Tensor t = h.model->forward(*h.be, *h.cache, {h.meta.get(), tokens, rows, want_hidden});
    ASSERT_EQ(t.rows, 2);
    ASSERT_EQ(t.cols, want_hidden ? kEmbd : kVocab);
    std::vector<float>& out = want_hidden ? hidden : logits;
    out.resize(size_t(t.rows * t.cols));
    h.be->download(t, out.data());
    h.cache->free_sequence(seq);
  }
  const gguf::TensorInfo* embd = h.file.tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  ASSERT_EQ(embd->type, GgmlType::F32);
  const float* w = reinterpret_cast<const float*>(embd->data);
  for (size_t r = 0; r < 2; ++r)
    for (int64_t v = 0; v < kVocab; ++v) {
      double dot = 0;
      for (int64_t j = 0; j < kEmbd; ++j) dot += double(hidden[r * kEmbd + size_t(j)]) * w[v * kEmbd + j];
      EXPECT_NEAR(logits[r * kVocab + size_t(v)], dot, 1e-3 * std::max(1.0, std::abs(dot))) << r << " " << v;
    }
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Archs, TinyModel, ::testing::Values("llama", "qwen2", "qwen3", "gemma3"),
                         [](const auto& info) { return info.param; });

std::string load_error(const TinyOptions& o) {
  const auto path = write_tiny(o);
  std::string msg;
  try {
    Harness h(path, 64, 8);
  } catch (const kiln::Error& e) {
    msg = e.what();
  }
  std::filesystem::remove(path);
  return msg;
}

TEST(TinyModelErrors, UnsupportedArchitectureIsNamed) {
  EXPECT_NE(load_error({"mamba"}).find("'mamba' is not supported"), std::string::npos);
}

TEST(TinyModelErrors, MissingTensorIsNamed) {
  EXPECT_NE(load_error({"qwen2", "blk.1.attn_k.bias"}).find("missing tensor blk.1.attn_k.bias"), std::string::npos);
}

TEST(TinyModelErrors, WrongShapeIsNamed) {
  const std::string msg = load_error({"gemma3", "", "blk.3.ffn_up.weight"});
  EXPECT_NE(msg.find("blk.3.ffn_up.weight has shape [128, 96], expected [64, 96]"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kiln::models::test
