// Block formats -> f32. The arithmetic follows ggml's dequantize_row_* term by
// term (same products, same order, no fused multiply-add), so the output is
// bit-identical to ggml's and to gguf.quants.dequantize.
#include <cstring>

#include "core/fp16.h"
#include "core/quant/kernels.h"
#include "core/quant/exact_float.h"

namespace kiln::quant {

void dequantize_f16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

void dequantize_bf16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, y += kQK) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((x[b].qs[j] & 0x0F) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((x[b].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, y += kQK) {
    const float d = fp16_to_fp32(x[b].d);
    const float m = fp16_to_fp32(x[b].m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(x[b].qs[j] & 0x0F) * d + m;
      y[j + kQK / 2] = static_cast<float>(x[b].qs[j] >> 4) * d + m;
    }
  }
}

// Bit j of the 32-bit field is the fifth bit of value j.
static uint32_t load_qh(const uint8_t (&qh)[4]) {
  uint32_t v;
  std::memcpy(&v, qh, 4);
  return v;
}

void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, y += kQK) {
    const float d = fp16_to_fp32(x[b].d);
    const uint32_t qh = load_qh(x[b].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (x[b].qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
      const int hi = (x[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = static_cast<float>(lo - 16) * d;
      y[j + kQK / 2] = static_cast<float>(hi - 16) * d;
    }
  }
}

void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, y += kQK) {
    const float d = fp16_to_fp32(x[b].d);
    const float m = fp16_to_fp32(x[b].m);
    const uint32_t qh = load_qh(x[b].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (x[b].qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
      const int hi = (x[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = static_cast<float>(lo) * d + m;
      y[j + kQK / 2] = static_cast<float>(hi) * d + m;
    }
  }
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, y += kQK) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
  }
}

void dequantize_q2_k(const BlockQ2_K* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const float dmin = fp16_to_fp32(x[b].dmin);
    const uint8_t* q = x[b].qs;
    int group = 0;
    for (int half = 0; half < kQK_K; half += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 32; part += 16) {  // two groups of 16 per shift
          const uint8_t sc = x[b].scales[group++];
          const float dl = d * static_cast<float>(sc & 0xF);
          const float ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[part + l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

// The sixteen 6-bit scales of a Q3_K block, as signed values (s - 32).
static void unpack_q3_k_scales(const uint8_t* packed, int scales[16]) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    scales[j] = (low | (high << 4)) - 32;
  }
}

void dequantize_q3_k(const BlockQ3_K* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    int scales[16];
    unpack_q3_k_scales(x[b].scales, scales);
    const uint8_t* q = x[b].qs;
    int group = 0;
    uint8_t high_bit = 1;
    for (int half = 0; half < kQK_K; half += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, high_bit = static_cast<uint8_t>(high_bit << 1)) {
        for (int part = 0; part < 32; part += 16) {
          const float dl = d * static_cast<float>(scales[group++]);
          for (int l = 0; l < 16; ++l) {
            // A cleared high bit means "subtract 4": q spans -4..3.
            const int v = ((q[part + l] >> shift) & 3) - ((x[b].hmask[part + l] & high_bit) ? 0 : 4);
            *y++ = dl * static_cast<float>(v);
          }
        }
      }
    }
  }
}

void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const float dmin = fp16_to_fp32(x[b].dmin);
    const uint8_t* q = x[b].qs;
    for (int group = 0; group < 8; group += 2, q += 32) {
      uint8_t sc, m;
      unpack_scale_min_k4(group, x[b].scales, sc, m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      unpack_scale_min_k4(group + 1, x[b].scales, sc, m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const float dmin = fp16_to_fp32(x[b].dmin);
    const uint8_t* ql = x[b].qs;
    const uint8_t* qh = x[b].qh;
    for (int group = 0; group < 8; group += 2, ql += 32) {
      uint8_t sc, m;
      unpack_scale_min_k4(group, x[b].scales, sc, m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      unpack_scale_min_k4(group + 1, x[b].scales, sc, m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      const int bit1 = group, bit2 = group + 1;  // the fifth bits of this pair of groups
      for (int l = 0; l < 32; ++l)
        *y++ = d1 * static_cast<float>((ql[l] & 0xF) | (((qh[l] >> bit1) & 1) << 4)) - m1;
      for (int l = 0; l < 32; ++l)
        *y++ = d2 * static_cast<float>((ql[l] >> 4) | (((qh[l] >> bit2) & 1) << 4)) - m2;
    }
  }
}

void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const uint8_t* ql = x[b].ql;
    const uint8_t* qh = x[b].qh;
    const int8_t* sc = x[b].scales;
    for (int half = 0; half < kQK_K; half += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int g = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[g]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[g + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[g + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[g + 6]) * static_cast<float>(q4);
      }
    }
  }
}

void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, y += kQK_K) {
    float d;
    std::memcpy(&d, &x[b].d, sizeof d);
    for (int j = 0; j < kQK_K; ++j) y[j] = d * static_cast<float>(x[b].qs[j]);
  }
}

void dequantize_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, y += kQK) {
    const float d = fp16_to_fp32(x[b].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = d * static_cast<float>(kIq4nlValues[x[b].qs[j] & 0xF]);
      y[j + kQK / 2] = d * static_cast<float>(kIq4nlValues[x[b].qs[j] >> 4]);
    }
  }
}

void dequantize_iq4_xs(const BlockIQ4_XS* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (int g = 0; g < kQK_K / 32; ++g, y += 32) {
      const int low = (x[b].scales_l[g / 2] >> (4 * (g % 2))) & 0xF;
      const int high = (x[b].scales_h >> (2 * g)) & 3;
      const float dl = d * static_cast<float>((low | (high << 4)) - 32);
      const uint8_t* qs = x[b].qs + 16 * g;
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(kIq4nlValues[qs[j] & 0xF]);
        y[j + 16] = dl * static_cast<float>(kIq4nlValues[qs[j] >> 4]);
      }
    }
  }
}

void dequantize_tq2_0(const BlockTQ2_0* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (int half = 0; half < kQK_K / 128; ++half)
      for (int shift = 0; shift < 8; shift += 2)
        for (int l = 0; l < 32; ++l) *y++ = static_cast<float>(((x[b].qs[32 * half + l] >> shift) & 3) - 1) * d;
  }
}

// The k-th trit of a TQ1_0 byte: multiplying by 3^k (mod 256) shifts the
// base-3 fraction left, and * 3 >> 8 reads its leading digit.
static float tq1_trit(uint8_t byte, int k) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const uint8_t shifted = static_cast<uint8_t>(byte * kPow3[k]);
  return static_cast<float>(((static_cast<uint16_t>(shifted) * 3) >> 8) - 1);
}

void dequantize_tq1_0(const BlockTQ1_0* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (int k = 0; k < 5; ++k)
      for (int l = 0; l < 32; ++l) *y++ = tq1_trit(x[b].qs[l], k) * d;
    for (int k = 0; k < 5; ++k)
      for (int l = 0; l < 16; ++l) *y++ = tq1_trit(x[b].qs[32 + l], k) * d;
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 4; ++l) *y++ = tq1_trit(x[b].qh[l], k) * d;
  }
}

// Half of 2^(e - 127), exactly (e = 0 and 1 give subnormals).
static float e8m0_half(uint8_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

void dequantize_mxfp4(const BlockMXFP4* x, float* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, y += kQK) {
    const float d = e8m0_half(x[b].e);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(kMxfp4Values[x[b].qs[j] & 0xF]) * d;
      y[j + kQK / 2] = static_cast<float>(kMxfp4Values[x[b].qs[j] >> 4]) * d;
    }
  }
}

}  // namespace kiln::quant
