// quantize -> dequantize behaviour: error levels per format on Gaussian data,
// awkward rows (zero, constant, outlier), and the errors the API reports.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/quant/blocks.h"
#include "core/quant/quant.h"
#include "quant_fixture.h"

namespace kiln {
namespace {

constexpr GgmlType kBlockTypes[] = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                                    GgmlType::Q8_0, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K,
                                    GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_K};

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<float> roundtrip(GgmlType t, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  test::AlignedBytes q(row_bytes(t, n));
  quantize_row(t, x.data(), q.data(), n);
  std::vector<float> y(x.size());
  dequantize_row(t, q.data(), y.data(), n);
  return y;
}

double rmse(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return std::sqrt(sum / static_cast<double>(a.size()));
}

// RMSE on N(0, 1) values, 64 Ki of them. The bounds sit about 5% above what
// this implementation (byte-identical to ggml's reference quantizers) measures (q4_0 0.0861, q4_1 0.0784, q5_0 0.0426,
// q5_1 0.0377, q8_0 0.00535, q2_K 0.296, q3_K 0.151, q4_K 0.0714,
// q5_K 0.0361, q6_K 0.0177, q8_K 0.00701). They agree with the formats'
// resolution: a uniform quantizer with step D has RMSE D / sqrt(12), e.g.
// q8_0 with D = E[max |x| over 32] / 127 ~ 2.1 / 127 gives ~0.0048.
TEST(QuantRoundtrip, GaussianErrorReflectsTheFormat) {
  const std::vector<float> x = gaussian(65536, 1234);
  const std::map<GgmlType, double> bound = {
      {GgmlType::Q2_K, 0.31},  {GgmlType::Q3_K, 0.158},  {GgmlType::Q4_0, 0.090},
      {GgmlType::Q4_1, 0.082}, {GgmlType::Q4_K, 0.075},  {GgmlType::Q5_0, 0.045},
      {GgmlType::Q5_1, 0.040}, {GgmlType::Q5_K, 0.038},  {GgmlType::Q6_K, 0.0186},
      {GgmlType::Q8_0, 0.0056}, {GgmlType::Q8_K, 0.0074},
  };
  std::map<GgmlType, double> err;
  for (auto [t, b] : bound) {
    err[t] = rmse(x, roundtrip(t, x));
    EXPECT_LT(err[t], b) << type_name(t);
  }
  // More bits, less error; K-quants beat the legacy formats of the same width.
  EXPECT_LT(err[GgmlType::Q8_0] * 3, err[GgmlType::Q6_K]);
  EXPECT_LT(err[GgmlType::Q6_K] * 1.8, err[GgmlType::Q5_K]);
  EXPECT_LT(err[GgmlType::Q5_K] * 1.8, err[GgmlType::Q4_K]);
  EXPECT_LT(err[GgmlType::Q4_K] * 1.8, err[GgmlType::Q3_K]);
  EXPECT_LT(err[GgmlType::Q3_K] * 1.8, err[GgmlType::Q2_K]);
  EXPECT_LT(err[GgmlType::Q4_K], err[GgmlType::Q4_1]);
  EXPECT_LT(err[GgmlType::Q5_K], err[GgmlType::Q5_1]);
}

TEST(QuantRoundtrip, ZeroRowsStayZero) {
  const std::vector<float> zeros(512, 0.0f);
  for (GgmlType t : kBlockTypes) {
    for (float v : roundtrip(t, zeros)) ASSERT_EQ(v, 0.0f) << type_name(t);
  }
}

TEST(QuantRoundtrip, ConstantRowsAreNearlyExact) {
  // (Values whose K-quant scales would fall into the f16 subnormal range,
  // below ~1e-2, lose precision in every implementation of the format.)
  for (float c : {0.3f, -1.7f, 1000.0f}) {
    const std::vector<float> x(512, c);
    for (GgmlType t : kBlockTypes) {
      // The one level used is set by an f16 scale (and min): relative error
      // within a few f16 ulps (2^-11 each).
      for (float v : roundtrip(t, x)) ASSERT_NEAR(v, c, std::fabs(c) * 4e-3) << type_name(t) << " c=" << c;
    }
  }
}

TEST(QuantRoundtrip, OneHugeOutlierIsKeptAndOthersStayFinite) {
  std::vector<float> x = gaussian(512, 99);
  x[37] = 500.0f;
  for (GgmlType t : kBlockTypes) {
    const std::vector<float> y = roundtrip(t, x);
    // The outlier sets its block's scale, so it comes back within the f16
    // rounding of that scale; everything else stays finite and bounded.
    EXPECT_NEAR(y[37], 500.0f, 500.0f * 0.02) << type_name(t);
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_TRUE(std::isfinite(y[i])) << type_name(t) << " value " << i;
      ASSERT_LE(std::fabs(y[i]), 510.0f) << type_name(t) << " value " << i;
    }
    // Blocks without the outlier are unaffected (rows span several blocks).
    const size_t block = static_cast<size_t>(traits(t).block_size);
    const size_t clean_from = (37 / block + 1) * block;
    std::vector<float> rest(x.begin() + clean_from, x.end()), rest_y(y.begin() + clean_from, y.end());
    EXPECT_LT(rmse(rest, rest_y), 0.35) << type_name(t);
  }
}

TEST(QuantRoundtrip, F16AndBf16AreExactOnRepresentableValues) {
  std::vector<float> x = {0.0f, -0.0f, 1.0f, -2.5f, 49152.0f, 0x1p-24f, 0x1p-14f,
                          std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
  for (GgmlType t : {GgmlType::F16, GgmlType::BF16, GgmlType::F32}) {
    const std::vector<float> y = roundtrip(t, x);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(std::memcmp(&x[i], &y[i], 4), 0) << type_name(t) << " " << x[i];
  }
}

TEST(QuantRoundtrip, Q8KBlockSumsMatchTheirValues) {
  const std::vector<float> x = gaussian(512, 5);
  test::AlignedBytes q(row_bytes(GgmlType::Q8_K, 512));
  quantize_row(GgmlType::Q8_K, x.data(), q.data(), 512);
  const auto* blocks = static_cast<const quant::BlockQ8_K*>(q.data());
  for (int b = 0; b < 2; ++b)
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += blocks[b].qs[16 * g + j];
      EXPECT_EQ(blocks[b].bsums[g], sum);
    }
}

// With both signed zeros in a block, q4_1/q5_1 keep the first value met as
// the min, as ggml's quantize_row_q4_1_ref/q5_1_ref do (checked against
// libggml-base of llama-cpp-python 0.3.36; numpy in gguf.quants picks +0.0).
TEST(QuantRoundtrip, SignedZeroMinFollowsGgml) {
  std::vector<float> x(32, 0.0f);
  x[0] = -0.0f;
  for (GgmlType t : {GgmlType::Q4_1, GgmlType::Q5_1}) {
    test::AlignedBytes q(row_bytes(t, 32));
    quantize_row(t, x.data(), q.data(), 32);
    uint16_t m;
    std::memcpy(&m, q.bytes() + 2, 2);
    EXPECT_EQ(m, 0x8000) << type_name(t);
  }
}

TEST(QuantApi, SupportedTypes) {
  for (GgmlType t : kBlockTypes) {
    EXPECT_TRUE(can_quantize(t)) << type_name(t);
    EXPECT_TRUE(can_dequantize(t)) << type_name(t);
  }
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    EXPECT_TRUE(can_quantize(t));
    EXPECT_TRUE(can_dequantize(t));
  }
  EXPECT_TRUE(can_dequantize(GgmlType::IQ4_NL));
  EXPECT_TRUE(can_dequantize(GgmlType::IQ4_XS));
  EXPECT_TRUE(can_dequantize(GgmlType::TQ1_0));
  EXPECT_TRUE(can_dequantize(GgmlType::TQ2_0));
  EXPECT_TRUE(can_dequantize(GgmlType::MXFP4));
  EXPECT_FALSE(can_quantize(GgmlType::IQ4_NL));
  EXPECT_FALSE(can_dequantize(GgmlType::IQ2_XXS));
  EXPECT_FALSE(can_dequantize(GgmlType::I32));
  EXPECT_FALSE(can_dequantize(static_cast<GgmlType>(12345)));
}

// Runs f and returns the kiln::Error message it throws ("" if none).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(QuantApi, RowsThatAreNotWholeBlocksThrow) {
  std::vector<float> x(300, 1.0f), y(300);
  test::AlignedBytes q(4096);
  for (GgmlType t : kBlockTypes) {
    const std::string msg = error_of([&] { quantize_row(t, x.data(), q.data(), 33); });
    EXPECT_NE(msg.find("not a multiple of the block size"), std::string::npos) << type_name(t) << ": " << msg;
    EXPECT_NE(error_of([&] { dequantize_row(t, q.data(), y.data(), 257); }), "") << type_name(t);
    EXPECT_NE(error_of([&] { dequantize_row(t, q.data(), y.data(), -32); }), "") << type_name(t);
  }
  EXPECT_EQ(error_of([&] { dequantize_row(GgmlType::Q4_0, q.data(), y.data(), 0); }), "");  // empty row is fine
}

TEST(QuantApi, UnsupportedTypesThrowNamingTheType) {
  float x[256] = {}, y[256];
  test::AlignedBytes q(1024);
  EXPECT_NE(error_of([&] { dequantize_row(GgmlType::IQ2_XXS, q.data(), y, 256); }).find("iq2_xxs"), std::string::npos);
  EXPECT_NE(error_of([&] { quantize_row(GgmlType::IQ4_XS, x, q.data(), 256); }).find("iq4_xs"), std::string::npos);
  EXPECT_NE(error_of([&] { dequantize_row(static_cast<GgmlType>(999), q.data(), y, 256); }).find("999"),
            std::string::npos);
}

TEST(QuantApi, NonFiniteInputIsRejectedForBlockFormats) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<float> x(256, 0.5f);
    x[70] = bad;
    test::AlignedBytes q(1024);
    for (GgmlType t : kBlockTypes) {
      const std::string msg = error_of([&] { quantize_row(t, x.data(), q.data(), 256); });
      EXPECT_NE(msg.find("value 70"), std::string::npos) << type_name(t) << ": " << msg;
    }
  }
}

TEST(QuantApi, ValuesBeyondEveryFormatThrow) {
  std::vector<float> x(256, 1.0f);
  x[3] = -1e30f;
  test::AlignedBytes q(1024);
  for (GgmlType t : kBlockTypes) {
    const std::string msg = error_of([&] { quantize_row(t, x.data(), q.data(), 256); });
    EXPECT_NE(msg.find("value 3 is -1e+30, too large"), std::string::npos) << type_name(t) << ": " << msg;
  }
}

TEST(QuantApi, BlocksWhoseScaleOverflowsF16Throw) {
  // 1e7 needs a q8_0 scale of 1e7 / 127 > 65504, but fits q6_K's two-level scales.
  std::vector<float> x(256, 1.0f);
  x[3] = 1e7f;
  test::AlignedBytes q(1024);
  const std::string msg = error_of([&] { quantize_row(GgmlType::Q8_0, x.data(), q.data(), 256); });
  EXPECT_NE(msg.find("q8_0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f16 range"), std::string::npos) << msg;
  EXPECT_NEAR(roundtrip(GgmlType::Q6_K, x)[3], 1e7f, 1e7f * 0.01);
}

TEST(QuantApi, MisalignedBlocksThrow) {
  test::AlignedBytes q(1024);
  float y[256];
  const void* odd = q.bytes() + 1;
  EXPECT_NE(error_of([&] { dequantize_row(GgmlType::Q4_K, odd, y, 256); }).find("aligned"), std::string::npos);
}

}  // namespace
}  // namespace kiln
