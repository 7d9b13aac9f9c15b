// Synthetic random-weight models: presets have the real models' layouts,
// written files re-read with kiln's reader, data is valid and deterministic.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <unordered_set>

#include "core/quant/quant.h"
#include "gguf/gguf.h"
#include "gguf/presets.h"
#include "gguf/synthetic.h"
#include "gguf/synthetic_fill.h"
#include "gguf/synthetic_vocab.h"
#include "test_util.h"

namespace kiln::gguf {
namespace {

using testing::ScratchDir;
using testing::same_value;

std::filesystem::path model_path(const std::string& name) {
  std::filesystem::path dir = "/tmp/models";
  if (const char* env = std::getenv("KILN_TEST_MODELS"); env && *env) dir = env;
  else if (const char* home = std::getenv("HOME")) dir = std::filesystem::path(home) / ".cache/kiln/models";
  auto p = dir / name;
  if (!std::filesystem::exists(p) && std::filesystem::exists("/tmp/models/" + name)) p = "/tmp/models/" + name;
  return p;
}

const Value* find_kv(const std::vector<std::pair<std::string, Value>>& kv, std::string_view key) {
  for (const auto& [k, v] : kv)
    if (k == key) return &v;
  return nullptr;
}

TEST(SyntheticPresets, TensorCountsMatchRealFiles) {
  // Tensor counts of llama.cpp conversions of the real models.
  EXPECT_EQ(preset_tensors(preset_or_throw("llama3-8b")).size(), 291u);
  EXPECT_EQ(preset_tensors(preset_or_throw("llama3.2-1b")).size(), 147u);
  EXPECT_EQ(preset_tensors(preset_or_throw("qwen2.5-0.5b")).size(), 291u);
  EXPECT_EQ(preset_tensors(preset_or_throw("gemma3-270m")).size(), 236u);
}

TEST(SyntheticPresets, ByteSizesAddUpFromShapes) {
  for (const Preset& p : all_presets()) {
    for (FileType ft : supported_file_types()) {
      const SyntheticPlan plan = plan_synthetic(p, ft);
      uint64_t total = 0;
      for (const auto& t : plan.tensors) {
        const TypeTraits tr = traits(t.type);
        int64_t n = 1;
        for (int64_t d : t.shape) n *= d;
        ASSERT_EQ(t.shape[0] % tr.block_size, 0) << p.name << " " << t.name;
        EXPECT_EQ(t.nbytes, static_cast<uint64_t>(n / tr.block_size) * tr.block_bytes) << p.name << " " << t.name;
        total += t.nbytes;
      }
      EXPECT_EQ(plan.tensor_bytes(), total) << p.name;
    }
  }
}

TEST(SyntheticPresets, UnknownPresetNamesTheKnownOnes) {
  try {
    preset_or_throw("llama9-1t");
    FAIL() << "expected an error";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama3-8b"), std::string::npos) << e.what();
  }
  EXPECT_THROW(plan_synthetic(preset_or_throw("gemma3-270m"), FileType::MOSTLY_F16, 99), kiln::Error);
}

TEST(SyntheticPresets, Llama3RopeFactorsSpanOneToTheScale) {
  const Preset& p = preset_or_throw("llama3.2-1b");
  const auto f = llama3_rope_factors(p);
  ASSERT_EQ(f.size(), static_cast<size_t>(p.head_dim / 2));
  EXPECT_EQ(f.front(), 1.0f);  // the fastest rotation keeps its frequency
  EXPECT_EQ(f.back(), 32.0f);  // the slowest is stretched by the full factor
  for (size_t i = 1; i < f.size(); ++i) EXPECT_GE(f[i], f[i - 1]);
}

TEST(SyntheticVocab, ByteLevelVocabulariesAreConsistent) {
  for (const char* name : {"llama3-8b", "qwen2.5-0.5b", "qwen3-0.6b"}) {
    const Preset& p = preset_or_throw(name);
    const auto kv = synthetic_tokenizer_metadata(p);
    const auto& tokens = find_kv(kv, "tokenizer.ggml.tokens")->as_array();
    ASSERT_EQ(tokens.size(), static_cast<size_t>(p.n_vocab)) << name;
    std::unordered_set<std::string> seen;
    for (const auto& t : tokens) EXPECT_TRUE(seen.insert(t.as_string()).second) << name << " duplicate " << t.as_string();
    // Each merge joins two tokens into a token, in rank order.
    const auto& merges = find_kv(kv, "tokenizer.ggml.merges")->as_array();
    for (const auto& m : merges) {
      const std::string& s = m.as_string();
      const size_t space = s.find(' ');
      ASSERT_NE(space, std::string::npos) << s;
      ASSERT_TRUE(seen.count(s.substr(0, space)) && seen.count(s.substr(space + 1))) << s;
      ASSERT_TRUE(seen.count(s.substr(0, space) + s.substr(space + 1))) << s;
    }
  }
}

TEST(SyntheticVocab, SpecialTokensSitAtTheirRealIds) {
  auto token = [](const std::vector<std::pair<std::string, Value>>& kv, size_t id) {
    return find_kv(kv, "tokenizer.ggml.tokens")->as_array().at(id).as_string();
  };
  const auto llama = synthetic_tokenizer_metadata(preset_or_throw("llama3-8b"));
  EXPECT_EQ(token(llama, 128000), "<|begin_of_text|>");
  EXPECT_EQ(token(llama, 128009), "<|eot_id|>");
  EXPECT_EQ(token(llama, 128006), "<|start_header_id|>");
  EXPECT_EQ(find_kv(llama, "tokenizer.ggml.merges")->size(), 127744u);
  const auto llama32 = synthetic_tokenizer_metadata(preset_or_throw("llama3.2-1b"));
  EXPECT_EQ(token(llama32, 128008), "<|eom_id|>");
  EXPECT_EQ(token(llama32, 128255), "<|reserved_special_token_247|>");
  const auto qwen3 = synthetic_tokenizer_metadata(preset_or_throw("qwen3-0.6b"));
  EXPECT_EQ(token(qwen3, 151667), "<think>");
  const auto gemma = synthetic_tokenizer_metadata(preset_or_throw("gemma3-270m"));
  EXPECT_EQ(token(gemma, 105), "<start_of_turn>");
  EXPECT_EQ(token(gemma, 255999), "<start_of_image>");
  EXPECT_EQ(token(gemma, 262143), "<unused6241>");
}

// The preset against a real file of the same model: same tensors, same
// architecture keys and values, same tokenizer keys, token types and special
// tokens. The weights' types must be what the quant mix gives.
void compare_with_real(const std::string& preset_name, const std::string& file_name) {
  const auto path = model_path(file_name);
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "real model absent: " << path << " (set KILN_TEST_MODELS)";
  const File real = File::open(path);
  const Preset& p = preset_or_throw(preset_name);
  const SyntheticPlan plan = plan_synthetic(p, FileType::MOSTLY_Q4_K_M);
  const auto ours = synthetic_metadata(plan);

  std::set<std::string> real_names, our_names;
  for (const auto& t : real.tensors()) real_names.insert(t.name);
  for (const auto& t : plan.tensors) our_names.insert(t.name);
  EXPECT_EQ(our_names, real_names);
  for (const auto& t : plan.tensors) {
    const TensorInfo* r = real.tensor(t.name);
    if (!r) continue;
    EXPECT_EQ(t.shape, r->shape) << t.name;
    EXPECT_EQ(type_name(t.type), type_name(r->type)) << t.name;
    EXPECT_EQ(t.nbytes, r->nbytes) << t.name;
  }

  const std::string arch_prefix = std::string(p.arch) + ".";
  std::set<std::string> real_keys, our_keys;
  for (const auto& [k, v] : real.metadata())
    if (k.starts_with(arch_prefix) || k.starts_with("tokenizer.")) real_keys.insert(k);
  for (const auto& [k, v] : ours)
    if (k.starts_with(arch_prefix) || k.starts_with("tokenizer.")) our_keys.insert(k);
  // The test gemma file carries no chat template; synthetic models always do.
  if (!real.find("tokenizer.chat_template")) our_keys.erase("tokenizer.chat_template");
  EXPECT_EQ(our_keys, real_keys);
  for (const auto& [k, v] : ours) {
    const Value* r = real.find(k);
    if (!r) continue;
    if (k == "tokenizer.ggml.token_type" || (k.starts_with(arch_prefix)) || k.ends_with("_id") ||
        k.starts_with("tokenizer.ggml.add_") || k == "tokenizer.ggml.model" || k == "tokenizer.ggml.pre" ||
        k == "general.file_type") {
      EXPECT_TRUE(same_value(v, *r)) << k;
    } else {
      EXPECT_EQ(v.type(), r->type()) << k;
      if (v.is_array()) EXPECT_EQ(v.size(), r->size()) << k;
    }
  }
  // Every token that is not an ordinary one has its real text.
  const auto& types = real.find("tokenizer.ggml.token_type")->as_array();
  const auto& real_tokens = real.find("tokenizer.ggml.tokens")->as_array();
  const auto& our_tokens = find_kv(ours, "tokenizer.ggml.tokens")->as_array();
  int specials = 0;
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i].as_int() == static_cast<int>(TokenType::Normal)) continue;
    EXPECT_EQ(our_tokens.at(i).as_string(), real_tokens.at(i).as_string()) << "token " << i;
    ++specials;
  }
  EXPECT_GT(specials, 0);
}

TEST(SyntheticPresets, Qwen25HalfBMatchesRealFile) { compare_with_real("qwen2.5-0.5b", "qwen-0.5b.gguf"); }
TEST(SyntheticPresets, Gemma3MatchesRealFile) { compare_with_real("gemma3-270m", "gemma-3-270m-q4_k_m.gguf"); }

TEST(SyntheticFill, SameBytesHoweverChunked) {
  for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::F16, GgmlType::F32}) {
    const size_t bb = traits(t).block_bytes;
    std::vector<uint8_t> whole(bb * 37), parts(bb * 37);
    fill_random(t, FillKind::Weight, 42, 0, whole.data(), whole.size());
    fill_random(t, FillKind::Weight, 42, 0, parts.data(), bb * 5);
    fill_random(t, FillKind::Weight, 42, bb * 5, parts.data() + bb * 5, bb * 32);
    EXPECT_EQ(whole, parts) << type_name(t);
    std::vector<uint8_t> other(whole.size());
    fill_random(t, FillKind::Weight, 43, 0, other.data(), other.size());
    EXPECT_NE(whole, other) << type_name(t);
  }
  uint8_t buf[64];
  EXPECT_THROW(fill_random(GgmlType::Q8_0, FillKind::Weight, 1, 0, buf, 33), kiln::Error);
}

TEST(SyntheticFill, ValuesAreFiniteAndSmall) {
  int checked = 0;
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q2_K,
                     GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::F16,
                     GgmlType::BF16, GgmlType::F32}) {
    if (!can_dequantize(t)) continue;  // kiln's reference codecs lack a few types
    const int64_t n = 256 * 64;
    std::vector<uint8_t> raw(row_bytes(t, n));
    fill_random(t, FillKind::Weight, 7, 0, raw.data(), raw.size());
    std::vector<float> v(n);
    dequantize_row(t, raw.data(), v.data(), n);
    ++checked;
    double sum_abs = 0;
    for (float x : v) {
      ASSERT_TRUE(std::isfinite(x)) << type_name(t);
      ASSERT_LT(std::fabs(x), 0.5f) << type_name(t);
      sum_abs += std::fabs(x);
    }
    const double mean_abs = sum_abs / n;
    EXPECT_GT(mean_abs, 0.002) << type_name(t);
    EXPECT_LT(mean_abs, 0.1) << type_name(t);
  }
  EXPECT_GE(checked, 12);
  std::vector<float> norm(512);
  fill_random(GgmlType::F32, FillKind::Norm, 3, 0, reinterpret_cast<uint8_t*>(norm.data()), norm.size() * 4);
  for (float x : norm) EXPECT_TRUE(x >= 0.95f && x <= 1.05f) << x;
}

// A cut-down model written to disk re-reads with kiln's reader exactly as
// planned and has the predicted size; every tensor holds exactly the bytes its
// (seed, name) produce, so the same seed always writes the same file.
TEST(SyntheticWrite, CutDownModelsReadBack) {
  ScratchDir dir;
  struct Case {
    const char* preset;
    FileType ft;
  };
  // Between them: qkv biases, output.weight, fallback types (qwen); tied
  // embeddings, rope_freqs and K-quants (llama).
  for (const Case c : {Case{"qwen2.5-0.5b", FileType::MOSTLY_Q4_K_M}, Case{"llama3.2-1b", FileType::MOSTLY_Q5_K_M}}) {
    SCOPED_TRACE(c.preset);
    constexpr uint64_t kSeed = 1234;
    const SyntheticPlan plan = plan_synthetic(preset_or_throw(c.preset), c.ft, 1);
    const auto path = dir / (std::string(c.preset) + ".gguf");
    write_synthetic(plan, path, kSeed);
    const File f = File::open(path);
    EXPECT_EQ(f.file_size(), gguf_file_size(synthetic_metadata(plan), plan.tensors));
    EXPECT_EQ(f.get_int("general.file_type", -1), static_cast<int64_t>(c.ft));
    EXPECT_EQ(f.get_int(f.arch_key("block_count"), -1), 1);
    for (const auto& [k, v] : synthetic_metadata(plan)) {
      const Value* got = f.find(k);
      ASSERT_NE(got, nullptr) << k;
      EXPECT_TRUE(same_value(*got, v)) << k;
    }
    ASSERT_EQ(f.tensors().size(), plan.tensors.size());
    for (size_t i = 0; i < plan.tensors.size(); ++i) {
      const auto& want = plan.tensors[i];
      const auto& got = f.tensors()[i];
      EXPECT_EQ(got.name, want.name);
      EXPECT_EQ(got.type, want.type) << want.name;
      EXPECT_EQ(got.shape, want.shape) << want.name;
      ASSERT_EQ(got.nbytes, want.nbytes) << want.name;
      if (got.name == "rope_freqs.weight") {
        const auto factors = llama3_rope_factors(preset_or_throw(c.preset));
        EXPECT_EQ(std::memcmp(got.data, factors.data(), got.nbytes), 0);
        continue;
      }
      std::vector<uint8_t> expect(got.nbytes);
      fill_random(got.type, fill_kind_for(got.name), tensor_seed(kSeed, got.name), 0, expect.data(), expect.size());
      EXPECT_EQ(std::memcmp(got.data, expect.data(), got.nbytes), 0) << want.name;
      if (!can_dequantize(got.type) || got.name == "token_embd.weight" || got.name == "output.weight") continue;
      std::vector<float> values(static_cast<size_t>(got.nelements()));
      dequantize_row(got.type, got.data, values.data(), got.nelements());
      for (float x : values) ASSERT_TRUE(std::isfinite(x)) << want.name;
      if (fill_kind_for(got.name) == FillKind::Norm)
        for (float x : values) ASSERT_NEAR(x, 1.0f, 0.06f) << want.name;
    }
  }
}

TEST(SyntheticCli, WritesAndLists) {
  ScratchDir dir;
  const auto out = dir / "tiny.gguf";
  const std::string cmd = std::string(KILN_BINARY) + " synth gemma3-270m --type q8_0 --layers 1 --seed 9 -o " +
                          out.string() + " > " + (dir / "log.txt").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const File f = File::open(out);
  EXPECT_EQ(f.get_int("general.file_type", -1), 7);
  EXPECT_EQ(f.tensor("blk.0.ffn_up.weight")->type, GgmlType::Q8_0);
  EXPECT_EQ(f.get_int("gemma3.attention.sliding_window", 0), 512);

  const std::string list = std::string(KILN_BINARY) + " synth --list > " + (dir / "list.txt").string();
  ASSERT_EQ(std::system(list.c_str()), 0);
  std::ifstream in(dir / "list.txt");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const Preset& p : all_presets()) EXPECT_NE(text.find(std::string(p.name)), std::string::npos) << p.name;

  const std::string bad = std::string(KILN_BINARY) + " synth nosuchmodel > /dev/null 2>&1";
  EXPECT_NE(std::system(bad.c_str()), 0);
}

}  // namespace
}  // namespace kiln::gguf
