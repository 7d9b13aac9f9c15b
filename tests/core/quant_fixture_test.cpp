// Bit-exact agreement with the references on the fixtures written by
// tools/gen_quant_fixtures.py: the gguf Python package for every decoder and
// the legacy/f16/bf16 encoders, ggml's own quantize_row_*_ref (llama.cpp
// 0.3.36's libggml-base) for the K-quant encoders.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "core/quant/blocks.h"
#include "core/quant/quant.h"
#include "quant_fixture.h"

namespace kiln {
namespace {

TEST(QuantBlocks, StructSizesMatchTheTypeTable) {
  EXPECT_EQ(sizeof(quant::BlockQ4_0), traits(GgmlType::Q4_0).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockQ4_1), traits(GgmlType::Q4_1).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockQ5_0), traits(GgmlType::Q5_0).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockQ5_1), traits(GgmlType::Q5_1).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockQ8_0), traits(GgmlType::Q8_0).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockQ2_K), traits(GgmlType::Q2_K).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockQ3_K), traits(GgmlType::Q3_K).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockQ4_K), traits(GgmlType::Q4_K).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockQ5_K), traits(GgmlType::Q5_K).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockQ6_K), traits(GgmlType::Q6_K).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockQ8_K), traits(GgmlType::Q8_K).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockIQ4_NL), traits(GgmlType::IQ4_NL).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockIQ4_XS), traits(GgmlType::IQ4_XS).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockTQ1_0), traits(GgmlType::TQ1_0).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockTQ2_0), traits(GgmlType::TQ2_0).block_bytes);
  EXPECT_EQ(sizeof(quant::BlockMXFP4), traits(GgmlType::MXFP4).block_bytes);
}

class DequantizeMatchesGguf : public testing::TestWithParam<std::string> {};

TEST_P(DequantizeMatchesGguf, BitExact) {
  const test::DequantFixture f = test::read_dequant_fixture("dequant_" + GetParam() + ".bin");
  ASSERT_EQ(type_name(f.type), GetParam());
  ASSERT_TRUE(can_dequantize(f.type));
  const int64_t n = static_cast<int64_t>(f.expected.size());
  ASSERT_EQ(row_bytes(f.type, n), f.blocks.size());
  test::AlignedBytes src(f.blocks);
  std::vector<float> out(f.expected.size());
  dequantize_row(f.type, src.data(), out.data(), n);
  for (size_t i = 0; i < out.size(); ++i) {
    // Compare bits: the f16 fixture deliberately holds nans and signed zeros.
    ASSERT_EQ(std::memcmp(&out[i], &f.expected[i], 4), 0)
        << "value " << i << ": got " << out[i] << ", gguf gives " << f.expected[i];
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DequantizeMatchesGguf,
                         testing::Values("f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K",
                                         "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs", "tq1_0", "tq2_0", "mxfp4"),
                         [](const auto& info) { return info.param; });

class QuantizeMatchesReference : public testing::TestWithParam<std::string> {};

TEST_P(QuantizeMatchesReference, BitExact) {
  const test::QuantFixture f = test::read_quant_fixture("quant_" + GetParam() + ".bin");
  ASSERT_EQ(type_name(f.type), GetParam());
  ASSERT_TRUE(can_quantize(f.type));
  const int64_t n = static_cast<int64_t>(f.input.size());
  ASSERT_EQ(row_bytes(f.type, n), f.expected.size());
  test::AlignedBytes out(f.expected.size());
  quantize_row(f.type, f.input.data(), out.data(), n);
  const size_t block_bytes = traits(f.type).block_bytes;
  for (size_t off = 0; off < f.expected.size(); off += block_bytes)
    ASSERT_EQ(std::memcmp(out.bytes() + off, f.expected.data() + off, block_bytes), 0)
        << "block " << off / block_bytes << " differs from the reference";
}

// f16 and bf16 are compared value by value in fp16_test.cpp.
INSTANTIATE_TEST_SUITE_P(BlockTypes, QuantizeMatchesReference,
                         testing::Values("q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K",
                                         "q8_K"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kiln
