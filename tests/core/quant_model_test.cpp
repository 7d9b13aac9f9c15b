// Dequantizes tensors of the real test models and compares with what the gguf
// Python package produced for the same bytes (tests/fixtures/quant/model_*.bin,
// written by tools/gen_quant_fixtures.py: tensor location, a checksum of the
// whole dequantized tensor, its first row in full).
//
// The fixture records where each tensor's bytes lie in the file, so this test
// needs no GGUF parser. Models come from $KILN_TEST_MODELS (default
// ~/.cache/kiln/models); a missing model skips the test visibly.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/quant/quant.h"
#include "quant_fixture.h"

namespace kiln {
namespace {

std::filesystem::path models_dir() {
  if (const char* dir = std::getenv("KILN_TEST_MODELS"); dir && *dir) return dir;
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".cache" / "kiln" / "models";
}

class ModelTensorsMatchGguf : public testing::TestWithParam<std::string> {};

TEST_P(ModelTensorsMatchGguf, BitExact) {
  const std::string model = GetParam();
  const std::filesystem::path path = models_dir() / (model + ".gguf");
  if (!std::filesystem::exists(path))
    GTEST_SKIP() << "test model " << path << " not found (set KILN_TEST_MODELS or run tools/fetch_models.sh)";

  test::FixtureReader fx(test::quant_fixture_dir() + "model_" + model + ".bin");
  fx.expect_magic("KQMD");
  const auto file_size = fx.get<uint64_t>();
  ASSERT_EQ(std::filesystem::file_size(path), file_size) << path << " is not the model the fixture was made from";
  const auto count = fx.get<uint32_t>();
  ASSERT_GT(count, 0u);

  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "cannot open " << path;
  for (uint32_t k = 0; k < count; ++k) {
    const std::string name = fx.bytes_as_string(fx.get<uint16_t>());
    const auto type = static_cast<GgmlType>(fx.get<uint32_t>());
    const auto offset = fx.get<uint64_t>(), nbytes = fx.get<uint64_t>();
    const auto row_len = fx.get<int64_t>(), rows = fx.get<int64_t>();
    const auto checksum = fx.get<uint64_t>();
    const std::vector<float> first_row = fx.floats(static_cast<size_t>(row_len));
    SCOPED_TRACE(name + " (" + std::string(type_name(type)) + ")");

    const size_t row_size = row_bytes(type, row_len);
    ASSERT_EQ(row_size * static_cast<size_t>(rows), nbytes);
    test::AlignedBytes raw(nbytes);
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(static_cast<char*>(raw.data()), static_cast<std::streamsize>(nbytes));
    ASSERT_TRUE(in) << "cannot read " << nbytes << " bytes at " << offset;

    // Row by row, as the engine will call it.
    std::vector<float> values(static_cast<size_t>(row_len * rows));
    for (int64_t r = 0; r < rows; ++r)
      dequantize_row(type, raw.bytes() + r * row_size, values.data() + r * row_len, row_len);
    for (int64_t i = 0; i < row_len; ++i)
      ASSERT_EQ(std::memcmp(&values[i], &first_row[i], 4), 0)
          << "row 0 value " << i << ": got " << values[i] << ", gguf gives " << first_row[i];
    EXPECT_EQ(test::float_checksum(values.data(), values.size()), checksum) << "some value of rows 1.." << rows - 1
                                                                            << " differs";
  }
  EXPECT_TRUE(fx.at_end());
}

INSTANTIATE_TEST_SUITE_P(TestModels, ModelTensorsMatchGguf, testing::Values("qwen-0.5b", "gemma-3-270m-q4_k_m"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

}  // namespace
}  // namespace kiln
