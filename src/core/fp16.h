#pragma once
// IEEE half (f16) and bfloat16 (bf16) <-> f32 conversions, done on the bits so
// that results are exact and identical on every machine and compiler:
// subnormals are kept (never flushed), infinities stay infinities, and f32 ->
// f16/bf16 rounds to nearest, ties to even (what numpy, F16C and ggml do).
//
// NaNs: f16 -> f32 keeps the payload; f32 -> f16 and f32 -> bf16 return a
// quiet NaN with the payload's top bits (numpy agrees for quiet NaNs; a
// signalling NaN is quieted, as the hardware converters do).
#include <bit>
#include <cstdint>

namespace kiln {

inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf, nan
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
  // Zero or subnormal: mant * 2^-24 is exact in f32 (an integer below 2^10
  // times a power of two).
  const float magnitude = static_cast<float>(mant) * 0x1p-24f;
  return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(magnitude));
}

inline uint16_t fp32_to_fp16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u)  // nan: keep it quiet, keep the payload's top bits
    return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  // 65520 and above round to infinity (65504 is the largest half; the tie at
  // 65520 goes to the even neighbour, which is infinity).
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  const uint32_t exp = abs >> 23;
  if (abs >= 0x38800000u) {  // normal half (>= 2^-14)
    uint32_t h = ((exp - 112) << 10) | ((abs >> 13) & 0x3ffu);
    const uint32_t rest = abs & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: still right
    return static_cast<uint16_t>(sign | h);
  }
  // Subnormal half: value / 2^-24 = mant24 * 2^(exp - 126), rounded to even.
  if (exp < 102) return sign;  // below half the smallest subnormal: +-0
  const uint32_t mant24 = (abs & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exp;  // 14..24
  uint32_t h = mant24 >> shift;
  const uint32_t rest = mant24 & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u))) ++h;  // 0x400 is the smallest normal: still right
  return static_cast<uint16_t>(sign | h);
}

inline float bf16_to_fp32(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

inline uint16_t fp32_to_bf16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // quiet nan
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace kiln
