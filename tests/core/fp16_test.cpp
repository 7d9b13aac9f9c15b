// f16/bf16 conversions: every half and bfloat16 bit pattern against the
// IEEE definition, rounding against a double-precision reference, and the
// bytes numpy produces (fixtures from tools/gen_quant_fixtures.py).
#include "core/fp16.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>

#include "core/quant/quant.h"
#include "quant_fixture.h"

namespace kiln {
namespace {

// The value a half encodes, straight from the IEEE 754 definition.
double half_value(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? NAN : sign * INFINITY;
  return sign * std::ldexp(1024 + mant, exp - 25);
}

TEST(Fp16, EveryHalfDecodesToItsIeeeValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    const double want = half_value(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      // The payload moves to the top of the f32 mantissa unchanged.
      EXPECT_EQ(std::bit_cast<uint32_t>(f), ((h & 0x8000u) << 16) | 0x7f800000u | ((h & 0x3ffu) << 13)) << std::hex << h;
    } else {
      ASSERT_EQ(static_cast<double>(f), want) << std::hex << h;
      ASSERT_EQ(std::signbit(f), (h & 0x8000u) != 0) << std::hex << h;
    }
  }
}

TEST(Fp16, EveryNonNanHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const bool nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
    const bool quiet = (h & 0x200u) != 0;
    if (nan && !quiet) {
      // Signalling nans come back quiet, sign and payload kept.
      EXPECT_EQ(fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h))), h | 0x200u) << std::hex << h;
      continue;
    }
    ASSERT_EQ(fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
}

// Round to nearest half, ties to even, computed in double: the grid spacing
// is 2^(e - 10) for values in [2^e, 2^(e+1)), and 2^-24 below 2^-14.
double nearest_half(double x) {
  const double a = std::fabs(x);
  if (a >= 65520.0) return std::copysign(INFINITY, x);
  if (a == 0) return x;
  const int e = std::max(std::ilogb(a), -14);
  const double ulp = std::ldexp(1.0, e - 10);
  return std::copysign(std::nearbyint(a / ulp) * ulp, x);  // a / ulp is exact
}

TEST(Fp16, EncodingRoundsToNearestEven) {
  // A stride through every f32 bit pattern (prime stride, ~1M samples) hits
  // every exponent, subnormals, overflow and many tie cases.
  for (uint64_t bits = 0; bits < 0x100000000ull; bits += 4099) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(bits));
    if (std::isnan(f)) continue;
    const uint16_t h = fp32_to_fp16(f);
    const double want = std::isinf(f) ? f : nearest_half(f);
    ASSERT_EQ(static_cast<double>(fp16_to_fp32(h)), want) << "f32 bits " << std::hex << bits;
    ASSERT_EQ(std::signbit(fp16_to_fp32(h)), std::signbit(f)) << std::hex << bits;
  }
  // Exact ties: the midpoint of two neighbouring halves goes to the even one.
  for (uint16_t h = 0; h < 0x7bff; ++h) {
    const double mid = (half_value(h) + half_value(static_cast<uint16_t>(h + 1))) / 2;
    const uint16_t even = (h & 1) ? static_cast<uint16_t>(h + 1) : h;
    ASSERT_EQ(fp32_to_fp16(static_cast<float>(mid)), even) << std::hex << h;  // mid is exact in f32
  }
}

TEST(Fp16, NanEncodesAsQuietNan) {
  EXPECT_EQ(fp32_to_fp16(std::bit_cast<float>(0x7fc00000u)), 0x7e00);
  EXPECT_EQ(fp32_to_fp16(std::bit_cast<float>(0xffc00000u)), 0xfe00);
  const uint16_t from_signalling = fp32_to_fp16(std::bit_cast<float>(0x7f800001u));
  EXPECT_EQ(from_signalling & 0x7e00, 0x7e00);  // still a nan, and quiet
}

TEST(Bf16, EveryPatternDecodesByShiftAndRoundTrips) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(b));
    ASSERT_EQ(std::bit_cast<uint32_t>(f), b << 16);
    const bool nan = (b & 0x7f80u) == 0x7f80u && (b & 0x7fu);
    ASSERT_EQ(fp32_to_bf16(f), nan ? (b | 0x40u) : b) << std::hex << b;
  }
}

TEST(Bf16, EncodingRoundsToNearestEven) {
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even (1.0).
  EXPECT_EQ(fp32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
  EXPECT_EQ(fp32_to_bf16(1.0f + 0x1p-7f + 0x1p-8f), 0x3f82);  // tie from odd goes up
  EXPECT_EQ(fp32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);  // above the tie
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x7f7fffffu)), 0x7f80);  // largest f32 rounds to inf
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x00000001u)), 0x0000);  // subnormal, not flushed: rounds
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x00018000u)), 0x0002);  // subnormal tie to even
}

// numpy's float32 -> float16 and gguf's bf16 on values chosen to hit every
// rounding path (ties, subnormals, overflow, inf, nan).
TEST(Fp16, MatchesNumpyBytes) {
  for (const char* file : {"quant_f16.bin", "quant_bf16.bin"}) {
    SCOPED_TRACE(file);
    const test::QuantFixture f = test::read_quant_fixture(file);
    std::vector<uint8_t> out(f.expected.size());
    quantize_row(f.type, f.input.data(), out.data(), static_cast<int64_t>(f.input.size()));
    ASSERT_EQ(out.size(), f.expected.size());
    for (size_t i = 0; i < f.input.size(); ++i) {
      uint16_t got, want;
      std::memcpy(&got, out.data() + 2 * i, 2);
      std::memcpy(&want, f.expected.data() + 2 * i, 2);
      ASSERT_EQ(got, want) << "value " << i << " = " << f.input[i];
    }
  }
}

}  // namespace
}  // namespace kiln
