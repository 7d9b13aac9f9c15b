// `kiln create --quantize`: an F32/F16 model becomes Q8_0 or Q4_K_M with the
// per-tensor types of the mix policy, values close to the originals, and
// metadata naming the new file type.
#include <gtest/gtest.h>

#include <cmath>

#include "cli_helpers.h"
#include "core/quant/quant.h"
#include "gguf/quant_mix.h"

using namespace kiln::cli_test;
using kiln::GgmlType;

namespace {

TinyModel quantizable_model(GgmlType weight_type) {
  TinyModel m;
  m.file_type = weight_type == GgmlType::F32 ? 0 : 1;
  m.embedding_length = 256;
  m.tensors = {
      {"token_embd.weight", weight_type, {256, 16}},
      {"blk.0.attn_norm.weight", GgmlType::F32, {256}},
      {"blk.0.attn_q.weight", weight_type, {256, 8}},
      {"blk.0.attn_v.weight", weight_type, {256, 4}},
      {"blk.0.ffn_down.weight", weight_type, {256, 4}},
      {"output_norm.weight", GgmlType::F32, {256}},
      {"output.weight", weight_type, {256, 16}},
  };
  return m;
}

std::vector<float> values(const kiln::gguf::TensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.nelements()));
  kiln::dequantize_row(t.type, t.data, out.data(), t.nelements());
  return out;
}

// The stored model blob of `name`.
fs::path model_blob(const StoreDir& d, const std::string& name) {
  const auto manifest = nlohmann::json::parse(slurp(d.store() / "manifests/registry.ollama.ai/library" / name / "latest"));
  return d.store() / "blobs" / ("sha256-" + manifest["layers"][0]["digest"].get<std::string>().substr(7));
}

void check_quantized(const StoreDir& d, const std::string& name, kiln::gguf::FileType ft, double max_rel_error) {
  const auto src = kiln::gguf::File::open(d.file("f.gguf"));
  const auto dst = kiln::gguf::File::open(model_blob(d, name));
  EXPECT_EQ(dst.get_int("general.file_type", -1), static_cast<int64_t>(ft));
  EXPECT_EQ(dst.get_string("general.name"), src.get_string("general.name"));  // metadata kept
  kiln::gguf::MixModel mix{"llama", 1, true, false};
  ASSERT_EQ(dst.tensors().size(), src.tensors().size());
  for (size_t i = 0; i < src.tensors().size(); ++i) {
    const auto& s = src.tensors()[i];
    const auto& q = dst.tensors()[i];
    SCOPED_TRACE(s.name);
    EXPECT_EQ(q.name, s.name);
    EXPECT_EQ(q.shape, s.shape);
    EXPECT_EQ(q.type, kiln::gguf::tensor_type_for(ft, mix, s.name, s.shape, s.type));
    const auto a = values(s), b = values(q);
    double err = 0, norm = 0;
    for (size_t k = 0; k < a.size(); ++k) {
      err += (a[k] - b[k]) * (a[k] - b[k]);
      norm += a[k] * a[k];
    }
    EXPECT_LT(std::sqrt(err / norm), max_rel_error);
  }
}

}  // namespace

TEST(CliQuantize, F32ToQ8_0) {
  StoreDir d("q8");
  quantizable_model(GgmlType::F32).write(d.file("f.gguf"));
  d.write_file("Modelfile", "FROM ./f.gguf\n");
  const auto r = d.kiln({"create", "q8", "--quantize", "q8_0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("quantizing F32 model to Q8_0"), std::string::npos) << r.err;
  check_quantized(d, "q8", kiln::gguf::FileType::MOSTLY_Q8_0, 0.01);
  const auto show = d.kiln({"show", "q8"});
  EXPECT_NE(show.out.find("    quantization        Q8_0\n"), std::string::npos) << show.out;
  // The unquantized weights are read from the file, not stored: the store
  // holds the quantized model and the config only.
  EXPECT_EQ(d.blob_count(), 2u);
}

TEST(CliQuantize, F16ToQ4_K_M) {
  StoreDir d("q4km");
  quantizable_model(GgmlType::F16).write(d.file("f.gguf"));
  d.write_file("Modelfile", "FROM ./f.gguf\nSYSTEM kept\n");
  const auto r = d.kiln({"create", "q4", "-q", "Q4_K_M"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  check_quantized(d, "q4", kiln::gguf::FileType::MOSTLY_Q4_K_M, 0.12);
  const auto show = d.kiln({"show", "q4"});
  EXPECT_NE(show.out.find("    quantization        Q4_K_M\n"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("q6_K"), std::string::npos) << show.out;  // attn_v, ffn_down, output
  EXPECT_NE(show.out.find("q4_K"), std::string::npos) << show.out;
  EXPECT_EQ(d.kiln({"show", "q4", "--system"}).out, "kept");
}

TEST(CliQuantize, RefusesQuantizedSources) {
  StoreDir d("q-refuse");
  quantizable_model(GgmlType::F32).write(d.file("f.gguf"));
  d.write_file("Modelfile", "FROM ./f.gguf\n");
  ASSERT_EQ(d.kiln({"create", "q8", "-q", "q8_0"}).exit_code, 0);
  d.write_file("Again", "FROM q8\n");
  const auto r = d.kiln({"create", "again", "-f", "Again", "-q", "q4_K_M"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Error: quantization is only supported for F32, F16 and BF16 models"), std::string::npos) << r.err;
}
