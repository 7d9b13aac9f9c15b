// f32 -> K-quants (256-value super-blocks). These follow ggml's
// quantize_row_q*_K_ref algorithms (no importance matrix): for each group a
// small search picks the scale (and min) that minimizes a weighted squared
// error, then the group scales are themselves quantized to 4/6/8 bits against
// one f16 super-scale, and finally every value is re-quantized against the
// scale it will actually be decoded with.
//
// The operations and their order are ggml's, with no fused multiply-add, so
// the bytes are identical to ggml's reference quantizers (checked against
// libggml-base on fixtures; see tools/gen_quant_fixtures.py).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "core/quant/kernels.h"
#include "core/quant/exact_float.h"

namespace kiln::quant {
namespace {

constexpr float kGroupMaxEps = 1e-15f;  // a group whose values are all below this is "all zero"

// Round to nearest, ties to even, by adding 1.5 * 2^23 so that the integer
// lands in the low mantissa bits (what ggml's nearest_int does). The trick is
// only valid for |v| < 2^22; larger values (possible in degenerate groups) are
// clamped first so they still round to a huge value of the right sign.
inline int nearest_int(float v) {
  v = std::clamp(v, -4194303.f, 4194303.f);
  const float shifted = v + 12582912.f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

inline int clamp(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Symmetric levels in [-nmax, nmax - 1] for n values, weighted by x^2: tries
// 19 scales around nmax / max and keeps the least-squares best. Writes
// L[i] = level + nmax and returns the scale.
float make_symmetric_levels(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    iscale = -(nmax + 0.1f * step) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q3_K's variant: levels in [-nmax, nmax - 1], refined by coordinate descent
// (each level moved to its best value given the others) for up to 5 rounds.
float make_q3_levels(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int round = 0; round < 5; ++round) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        const int new_l = clamp(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Asymmetric levels in [0, nmax] with x ~= scale * L - neg_min: starts from
// the min/max fit, then tries nstep + 1 scales (rmin + rdelta * k + nmax over
// the range) and for each solves the weighted least-squares scale and min in
// closed form, keeping the one with the least weighted error (absolute error
// if use_mad). The min is kept <= 0; *neg_min receives -min.
float make_affine_levels(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* neg_min,
                         uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::memset(L, 0, static_cast<size_t>(n));
    *neg_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * step + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        error += weights[i] * diff;
      }
      if (error < best_error) {
        std::memcpy(L, Laux, static_cast<size_t>(n));
        best_error = error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

// Packs 2-bit levels: byte l of each 32-byte run holds values l, l+32, l+64,
// l+96 of its 128-value half (Q2_K and the low bits of Q3_K).
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kQK_K; j += 128)
    for (int l = 0; l < 32; ++l)
      qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

// Q4_K and Q5_K: per 32-value group, weighted affine levels with weights
// sqrt(mean x^2) + |x|; the 8 scales and 8 mins then get 6 bits each against
// the f16 super-scales d and dmin.
template <typename Block>
void quantize_k4_scales(const float* x, Block& block, int nmax, float rmin, float rdelta, int nstep, uint8_t* L) {
  float scales[kQK_K / 32], mins[kQK_K / 32];
  float weights[32];
  uint8_t Laux[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kQK_K / 32; ++j) {
    const float* xg = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xg[l] * xg[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xg[l]);
    scales[j] = make_affine_levels(32, nmax, xg, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < kQK_K / 32; ++j) {
    const uint8_t ls = static_cast<uint8_t>(std::min(63, nearest_int(inv_scale * scales[j])));
    const uint8_t lm = static_cast<uint8_t>(std::min(63, nearest_int(inv_min * mins[j])));
    if (j < 4) {
      block.scales[j] = ls;
      block.scales[j + 4] = lm;
    } else {
      block.scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      block.scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      block.scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  block.d = scale_to_fp16(max_scale / 63.f);
  block.dmin = scale_to_fp16(max_min / 63.f);
  // Re-quantize against the scales as they will be decoded.
  for (int j = 0; j < kQK_K / 32; ++j) {
    uint8_t sc, m;
    unpack_scale_min_k4(j, block.scales, sc, m);
    const float d = fp16_to_fp32(block.d) * sc;
    if (d == 0) continue;
    const float dm = fp16_to_fp32(block.dmin) * m;
    for (int i = 0; i < 32; ++i) L[32 * j + i] = static_cast<uint8_t>(clamp(nearest_int((x[32 * j + i] + dm) / d), 0, nmax));
  }
}

}  // namespace

void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t nblocks) {
  constexpr float kScaleLevels = 15.f;  // group scales and mins get 4 bits each
  for (int64_t b = 0; b < nblocks; ++b, x += kQK_K) {
    uint8_t L[kQK_K], Laux[16];
    float weights[16], scales[kQK_K / 16], mins[kQK_K / 16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kQK_K / 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = make_affine_levels(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    std::memset(y[b].scales, 0, sizeof y[b].scales);
    y[b].d = 0;
    y[b].dmin = 0;
    if (max_scale > 0) {
      const float iscale = kScaleLevels / max_scale;
      for (int j = 0; j < kQK_K / 16; ++j) y[b].scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
      y[b].d = scale_to_fp16(max_scale / kScaleLevels);
    }
    if (max_min > 0) {
      const float iscale = kScaleLevels / max_min;
      for (int j = 0; j < kQK_K / 16; ++j) y[b].scales[j] |= static_cast<uint8_t>(nearest_int(iscale * mins[j]) << 4);
      y[b].dmin = scale_to_fp16(max_min / kScaleLevels);
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = fp16_to_fp32(y[b].d) * (y[b].scales[j] & 0xF);
      if (d == 0) continue;
      const float dm = fp16_to_fp32(y[b].dmin) * (y[b].scales[j] >> 4);
      for (int i = 0; i < 16; ++i) L[16 * j + i] = static_cast<uint8_t>(clamp(nearest_int((x[16 * j + i] + dm) / d), 0, 3));
    }
    pack_2bit(L, y[b].qs);
  }
}

void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK_K) {
    int8_t L[kQK_K];
    float scales[kQK_K / 16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < kQK_K / 16; ++j) {
      scales[j] = make_q3_levels(16, 4, x + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    std::memset(y[b].scales, 0, sizeof y[b].scales);
    y[b].d = 0;
    if (max_scale != 0) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < kQK_K / 16; ++j) {
        const int l = clamp(nearest_int(iscale * scales[j]), -32, 31) + 32;  // 6 bits
        if (j < 8)
          y[b].scales[j] = static_cast<uint8_t>(l & 0xF);
        else
          y[b].scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
        y[b].scales[j % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      y[b].d = scale_to_fp16(1 / iscale);
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      const int low = j < 8 ? (y[b].scales[j] & 0xF) : (y[b].scales[j - 8] >> 4);
      const int sc = (low | (((y[b].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
      const float d = fp16_to_fp32(y[b].d) * sc;
      if (d == 0) continue;
      for (int i = 0; i < 16; ++i) L[16 * j + i] = static_cast<int8_t>(clamp(nearest_int(x[16 * j + i] / d), -4, 3) + 4);
    }
    // Levels 4..7 set their high bit; the bit of value v is bit v/32 of hmask[v%32].
    std::memset(y[b].hmask, 0, sizeof y[b].hmask);
    uint8_t low_bits[kQK_K];
    for (int v = 0; v < kQK_K; ++v) {
      if (L[v] > 3) y[b].hmask[v % 32] |= static_cast<uint8_t>(1u << (v / 32));
      low_bits[v] = static_cast<uint8_t>(L[v] & 3);
    }
    pack_2bit(low_bits, y[b].qs);
  }
}

void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK_K) {
    uint8_t L[kQK_K];
    std::memset(y[b].scales, 0, sizeof y[b].scales);
    quantize_k4_scales(x, y[b], 15, -1.f, 0.1f, 20, L);
    uint8_t* q = y[b].qs;
    for (int j = 0; j < kQK_K; j += 64, q += 32)
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK_K) {
    uint8_t L[kQK_K];
    std::memset(y[b].scales, 0, sizeof y[b].scales);
    quantize_k4_scales(x, y[b], 31, -0.5f, 0.1f, 15, L);
    std::memset(y[b].qh, 0, sizeof y[b].qh);
    uint8_t* ql = y[b].qs;
    for (int n = 0, pair = 0; n < kQK_K; n += 64, ++pair, ql += 32) {
      for (int j = 0; j < 32; ++j) {
        const int l1 = L[n + j], l2 = L[n + j + 32];
        y[b].qh[j] |= static_cast<uint8_t>(((l1 >> 4) << (2 * pair)) | ((l2 >> 4) << (2 * pair + 1)));
        ql[j] = static_cast<uint8_t>((l1 & 0xF) | ((l2 & 0xF) << 4));
      }
    }
  }
}

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK_K) {
    int8_t L[kQK_K];
    float scales[kQK_K / 16];
    float max_scale = 0, max_abs_scale = 0;
    for (int g = 0; g < kQK_K / 16; ++g) {
      scales[g] = make_symmetric_levels(16, 32, x + 16 * g, L + 16 * g);
      if (std::fabs(scales[g]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[g]);
        max_scale = scales[g];
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[b].d = scale_to_fp16(1 / iscale);
    for (int g = 0; g < kQK_K / 16; ++g) y[b].scales[g] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[g])));
    for (int g = 0; g < kQK_K / 16; ++g) {
      const float d = fp16_to_fp32(y[b].d) * y[b].scales[g];
      if (d == 0) continue;
      for (int i = 0; i < 16; ++i) L[16 * g + i] = static_cast<int8_t>(clamp(nearest_int(x[16 * g + i] / d), -32, 31) + 32);
    }
    uint8_t* ql = y[b].ql;
    uint8_t* qh = y[b].qh;
    for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
        ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
    }
  }
}

void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t nblocks) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK_K) {
    float max = 0, amax = 0;
    for (int j = 0; j < kQK_K; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    std::memset(&y[b], 0, sizeof y[b]);
    if (amax == 0) continue;
    // The largest magnitude maps to -127 (exact); nothing can exceed 127.
    const float iscale = -127.f / max;
    for (int j = 0; j < kQK_K; ++j) y[b].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += y[b].qs[16 * g + j];
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = 1 / iscale;
  }
}

}  // namespace kiln::quant
