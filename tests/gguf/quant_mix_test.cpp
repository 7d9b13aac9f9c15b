// The quantization mix policy against files llama.cpp's llama-quantize made:
// the two real Q4_K_M models (skipped visibly when absent) and the type tables
// in tests/fixtures/gguf/quant_mix/ (tools/quant_mix_reference.py: llama.cpp
// quantized kiln's F16 synthetic models to each file type).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/presets.h"
#include "gguf/quant_mix.h"

namespace kiln::gguf {
namespace {

std::filesystem::path model_path(const std::string& name) {
  std::filesystem::path dir = "/tmp/models";
  if (const char* env = std::getenv("KILN_TEST_MODELS"); env && *env) dir = env;
  else if (const char* home = std::getenv("HOME")) dir = std::filesystem::path(home) / ".cache/kiln/models";
  auto p = dir / name;
  if (!std::filesystem::exists(p) && std::filesystem::exists("/tmp/models/" + name)) p = "/tmp/models/" + name;
  return p;
}

// Every tensor of a real llama-quantize output must get the type the file has.
// `name_ordered`: the file was made by a llama.cpp that visited layers in name
// order (MixModel::name_ordered_layers); the Qwen2.5 file was.
void expect_policy_reproduces(const std::string& file_name, bool name_ordered) {
  const auto path = model_path(file_name);
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "real model absent: " << path << " (set KILN_TEST_MODELS)";
  const File f = File::open(path);
  const auto ft = static_cast<FileType>(f.get_int("general.file_type", -1));
  ASSERT_EQ(ft, FileType::MOSTLY_Q4_K_M) << file_name;
  const MixModel model{.arch = f.architecture(),
                       .n_layers = static_cast<int>(f.get_int(f.arch_key("block_count"), 0)),
                       .has_output = f.tensor("output.weight") != nullptr,
                       .name_ordered_layers = name_ordered};
  int checked = 0;
  for (const TensorInfo& t : f.tensors()) {
    // Converters store matrices as F16 and vectors as F32 before quantizing.
    const GgmlType source = t.shape.size() >= 2 ? GgmlType::F16 : GgmlType::F32;
    EXPECT_EQ(type_name(tensor_type_for(ft, model, t.name, t.shape, source)), type_name(t.type)) << t.name;
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(f.tensors().size()));
}

TEST(QuantMix, ReproducesRealQwen25Q4KM) { expect_policy_reproduces("qwen-0.5b.gguf", true); }
TEST(QuantMix, ReproducesRealGemma3Q4KM) { expect_policy_reproduces("gemma-3-270m-q4_k_m.gguf", false); }

// Fixture format: "# comment"; "model <preset> <file_type_number>" starts a
// table; then one "<tensor> <type name>" line per tensor, as llama.cpp wrote
// them.
struct ReferenceTable {
  std::string preset;
  uint32_t file_type = 0;
  std::vector<std::pair<std::string, std::string>> types;
};

// One file per preset, one "model" section per file type.
std::vector<ReferenceTable> load_reference_tables() {
  std::vector<ReferenceTable> tables;
  const std::filesystem::path dir = std::filesystem::path(KILN_FIXTURES) / "gguf/quant_mix";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".txt") continue;
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ls(line);
      std::string a, b;
      ls >> a >> b;
      if (a == "model") {
        tables.emplace_back();
        tables.back().preset = b;
        ls >> tables.back().file_type;
      } else if (!tables.empty()) {
        tables.back().types.emplace_back(a, b);
      }
    }
  }
  return tables;
}

TEST(QuantMix, MatchesLlamaQuantizeTables) {
  const auto tables = load_reference_tables();
  ASSERT_FALSE(tables.empty()) << "no fixtures in tests/fixtures/gguf/quant_mix";
  for (const auto& table : tables) {
    SCOPED_TRACE(table.preset + " file type " + std::to_string(table.file_type));
    const Preset& p = preset_or_throw(table.preset);
    // Current llama.cpp visits layers in order, whatever the preset's own
    // published files did.
    const MixModel model{.arch = std::string(p.arch), .n_layers = static_cast<int>(p.n_layer),
                         .has_output = p.has_output};
    const auto tensors = preset_tensors(p);
    ASSERT_EQ(tensors.size(), table.types.size());
    std::map<std::string, std::string> expected(table.types.begin(), table.types.end());
    for (const auto& t : tensors) {
      ASSERT_TRUE(expected.count(t.name)) << t.name;
      const GgmlType source = t.shape.size() >= 2 ? GgmlType::F16 : GgmlType::F32;
      const auto ft = static_cast<FileType>(table.file_type);
      EXPECT_EQ(type_name(tensor_type_for(ft, model, t.name, t.shape, source)), expected[t.name]) << t.name;
    }
  }
}

TEST(QuantMix, FileTypeNumbersAreLlamaCpps) {
  // general.file_type values of llama.cpp's llama_ftype enum.
  EXPECT_EQ(static_cast<uint32_t>(*parse_file_type("q4_k_m")), 15u);
  EXPECT_EQ(static_cast<uint32_t>(*parse_file_type("Q8_0")), 7u);
  EXPECT_EQ(static_cast<uint32_t>(*parse_file_type("f16")), 1u);
  EXPECT_EQ(static_cast<uint32_t>(*parse_file_type("Q5_K_M")), 17u);
  EXPECT_EQ(static_cast<uint32_t>(*parse_file_type("q6_K")), 18u);
  EXPECT_FALSE(parse_file_type("q3_K_M").has_value());
  for (FileType ft : supported_file_types()) EXPECT_EQ(parse_file_type(file_type_name(ft)), ft);
}

TEST(QuantMix, VectorsKeepTheirSourceType) {
  const MixModel m{.arch = "llama", .n_layers = 32, .has_output = true};
  const std::vector<int64_t> vec = {4096};
  EXPECT_EQ(tensor_type_for(FileType::MOSTLY_Q4_K_M, m, "blk.0.attn_norm.weight", vec, GgmlType::F32), GgmlType::F32);
  EXPECT_EQ(tensor_type_for(FileType::MOSTLY_Q8_0, m, "blk.0.attn_q.bias", vec, GgmlType::F32), GgmlType::F32);
  EXPECT_FALSE(is_quantizable("blk.3.ffn_norm.weight", 2));
  EXPECT_TRUE(is_quantizable("blk.3.ffn_up.weight", 2));
}

TEST(QuantMix, RowsNoTypeCanHoldAreAnError) {
  const MixModel m{.arch = "llama", .n_layers = 2, .has_output = true};
  const std::vector<int64_t> odd = {33, 8};  // no 32-value block divides 33
  EXPECT_THROW(tensor_type_for(FileType::MOSTLY_Q8_0, m, "blk.0.ffn_up.weight", odd, GgmlType::F16), kiln::Error);
}

TEST(QuantMix, LayerOfParsesBlockNames) {
  EXPECT_EQ(layer_of("blk.17.attn_v.weight"), 17);
  EXPECT_EQ(layer_of("token_embd.weight"), -1);
  EXPECT_EQ(layer_of("blk.x.attn_v.weight"), -1);
  EXPECT_EQ(layer_of("blk.3"), -1);
}

}  // namespace
}  // namespace kiln::gguf
