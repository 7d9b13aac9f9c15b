// f32 -> f16, bf16 and the 32-value "legacy" block formats. These follow
// ggml's quantize_row_*_ref exactly (same operations in the same order, no
// fused multiply-add), so the bytes are identical to ggml's and to
// gguf.quants.quantize.
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/fp16.h"
#include "core/quant/kernels.h"
#include "core/quant/exact_float.h"

namespace kiln::quant {

uint16_t scale_to_fp16(float d) {
  const uint16_t h = fp32_to_fp16(d);
  if ((h & 0x7fffu) >= 0x7c00u)
    throw Error("block scale " + std::to_string(d) + " is beyond the f16 range (values too large for this format)");
  return h;
}

void quantize_f16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void quantize_bf16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

namespace {

// The value of largest magnitude (the first one on ties), sign kept: the
// symmetric formats map it to the most negative level so that it is exact.
float signed_absmax(const float* x) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void min_max(const float* x, float& min, float& max) {
  min = x[0];
  max = x[0];
  for (int j = 1; j < kQK; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
}

// Truncation toward zero of a non-negative level, capped at top (ggml casts
// with (int8_t) and takes MIN; every level here is below 128).
uint8_t truncate_level(float v, int top) {
  const int l = static_cast<int>(v);
  return static_cast<uint8_t>(l < top ? l : top);
}

}  // namespace

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK) {
    const float d = signed_absmax(x) / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = scale_to_fp16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t lo = truncate_level(x[j] * id + 8.5f, 15);
      const uint8_t hi = truncate_level(x[j + kQK / 2] * id + 8.5f, 15);
      y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK) {
    float min, max;
    min_max(x, min, max);
    const float d = (max - min) / 15;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = scale_to_fp16(d);
    y[b].m = scale_to_fp16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t lo = truncate_level((x[j] - min) * id + 0.5f, 15);
      const uint8_t hi = truncate_level((x[j + kQK / 2] - min) * id + 0.5f, 15);
      y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

// Q5 packing: low nibbles as in Q4_0, the fifth bits into the u32 qh.
template <typename Block>
static void pack_q5(const uint8_t (&levels)[kQK], Block& block) {
  uint32_t qh = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    const uint8_t lo = levels[j], hi = levels[j + kQK / 2];
    block.qs[j] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
    qh |= static_cast<uint32_t>((lo >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((hi >> 4) & 1) << (j + kQK / 2);
  }
  std::memcpy(block.qh, &qh, sizeof qh);
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK) {
    const float d = signed_absmax(x) / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = scale_to_fp16(d);
    uint8_t levels[kQK];
    for (int j = 0; j < kQK; ++j) levels[j] = truncate_level(x[j] * id + 16.5f, 31);
    pack_q5(levels, y[b]);
  }
}

void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK) {
    float min, max;
    min_max(x, min, max);
    const float d = (max - min) / 31;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = scale_to_fp16(d);
    y[b].m = scale_to_fp16(min);
    uint8_t levels[kQK];
    for (int j = 0; j < kQK; ++j) levels[j] = truncate_level((x[j] - min) * id + 0.5f, 31);
    pack_q5(levels, y[b]);
  }
}

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = scale_to_fp16(d);
    // roundf: halves away from zero, as ggml. |x * id| <= 127 (plus rounding).
    for (int j = 0; j < kQK; ++j) y[b].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

}  // namespace kiln::quant
