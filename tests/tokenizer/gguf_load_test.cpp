// Tokenizer::from_gguf on small GGUF files written with kiln's own writer:
// key handling, llama.cpp's defaults for absent keys, and errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace kiln::tok {
namespace {

namespace fs = std::filesystem;
using gguf::Value;
using gguf::ValueType;

Value strings(std::vector<std::string> items) {
  Value::Array a;
  for (auto& s : items) a.push_back(Value::string(std::move(s)));
  return Value::array(ValueType::STRING, std::move(a));
}

Tokenizer load(const gguf::Writer& w, const std::string& name) {
  const fs::path path = fs::temp_directory_path() / ("kiln_tok_" + name + "_" + std::to_string(::getpid()) + ".gguf");
  w.write(path);
  gguf::File f = gguf::File::open(path);
  Tokenizer t = Tokenizer::from_gguf(f);
  fs::remove(path);
  return t;
}

gguf::Writer spm_writer() {
  gguf::Writer w;
  w.set("general.architecture", Value::string("llama"));
  w.set("tokenizer.ggml.model", Value::string("llama"));
  w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", "\xE2\x96\x81" "a", "a"}));
  Value::Array scores, types;
  for (float s : {0.f, 0.f, 0.f, -1.f, -2.f}) scores.push_back(Value::f32(s));
  for (int t : {2, 3, 3, 1, 1}) types.push_back(Value::i32(t));
  w.set("tokenizer.ggml.scores", Value::array(ValueType::F32, scores));
  w.set("tokenizer.ggml.token_type", Value::array(ValueType::I32, types));
  return w;
}

TEST(FromGguf, SentencePieceDefaultsFollowLlamaCpp) {
  const Tokenizer t = load(spm_writer(), "spm_defaults");
  EXPECT_EQ(t.algorithm(), Algorithm::SentencePiece);
  EXPECT_TRUE(t.add_bos());
  EXPECT_FALSE(t.add_eos());
  EXPECT_TRUE(t.add_space_prefix());
  EXPECT_EQ(t.bos(), 1);
  EXPECT_EQ(t.eos(), 2);
  EXPECT_EQ(t.unk(), 0);
  EXPECT_EQ(t.encode("a", true, false), (std::vector<int32_t>{1, 3}));
  EXPECT_TRUE(t.is_eog(2));
}

TEST(FromGguf, ExplicitFlagsWin) {
  gguf::Writer w = spm_writer();
  w.set("tokenizer.ggml.add_bos_token", Value::boolean(false));
  w.set("tokenizer.ggml.add_space_prefix", Value::boolean(false));
  w.set("tokenizer.ggml.eos_token_id", Value::u32(1));
  const Tokenizer t = load(w, "spm_flags");
  EXPECT_FALSE(t.add_bos());
  EXPECT_FALSE(t.add_space_prefix());
  EXPECT_EQ(t.eos(), 1);
  EXPECT_EQ(t.encode("a", true, false), (std::vector<int32_t>{4}));
}

TEST(FromGguf, ErrorsNameTheProblem) {
  auto message = [](const gguf::Writer& w, const std::string& name) {
    try {
      load(w, name);
    } catch (const kiln::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  gguf::Writer unsupported = spm_writer();
  unsupported.set("tokenizer.ggml.model", Value::string("rwkv"));
  EXPECT_NE(message(unsupported, "rwkv").find("rwkv"), std::string::npos);
  gguf::Writer bad_id = spm_writer();
  bad_id.set("tokenizer.ggml.bos_token_id", Value::u32(99));
  EXPECT_NE(message(bad_id, "bad_id").find("bos_token_id"), std::string::npos);
  gguf::Writer no_tokens;
  no_tokens.set("general.architecture", Value::string("llama"));
  no_tokens.set("tokenizer.ggml.model", Value::string("llama"));
  EXPECT_NE(message(no_tokens, "no_tokens").find("tokenizer.ggml.tokens"), std::string::npos);
  gguf::Writer bpe_no_merges;
  bpe_no_merges.set("general.architecture", Value::string("qwen2"));
  bpe_no_merges.set("tokenizer.ggml.model", Value::string("gpt2"));
  bpe_no_merges.set("tokenizer.ggml.tokens", strings({"a"}));
  EXPECT_NE(message(bpe_no_merges, "no_merges").find("tokenizer.ggml.merges"), std::string::npos);
}

}  // namespace
}  // namespace kiln::tok
