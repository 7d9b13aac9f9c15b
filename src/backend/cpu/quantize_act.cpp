// Activation quantization for the integer matmul paths (format described in
// matmul_kernels.h). One implementation for every ISA keeps the int8 values,
// and so every integer dot product, identical across the kernel paths.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "backend/cpu/matmul_kernels.h"
#include "core/fp16.h"

namespace kiln::cpu::mm {

ActFormat act_format(GgmlType wt) {
  switch (wt) {
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q8_0:
    case GgmlType::IQ4_NL:
      return ActFormat::q8_32;
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
    case GgmlType::IQ4_XS:
      return ActFormat::q8_256;
    default:
      return ActFormat::none;
  }
}

size_t act_row_bytes(ActFormat f, int64_t K) {
  if (f == ActFormat::none) return 0;
  const int block = f == ActFormat::q8_32 ? 32 : 256;
  const int group = f == ActFormat::q8_32 ? 32 : 16;
  size_t bytes = (size_t(K) + 4 * size_t(K / block) + 2 * size_t(K / group) + 63) / 64 * 64;
  // lane_d and lane_negsum: 8 lanes of 4 bytes per 32-value block, K bytes each.
  if (f == ActFormat::q8_32) bytes += 2 * ((size_t(K) + 63) / 64 * 64);
  return bytes;
}

Acts make_acts(ActFormat f, int64_t K, void* base) {
  Acts a;
  a.base = static_cast<uint8_t*>(base);
  a.row_bytes = act_row_bytes(f, K);
  a.K = K;
  a.block = f == ActFormat::q8_32 ? 32 : 256;
  a.sum_group = f == ActFormat::q8_32 ? 32 : 16;
  return a;
}

void quantize_act_row(const float* x, const Acts& acts, int64_t t) {
  int8_t* q = acts.q(t);
  float* d = acts.d(t);
  int16_t* sums = acts.sums(t);
  const int B = acts.block, G = acts.sum_group;
  for (int64_t b = 0; b < acts.K / B; ++b) {
    const float* xb = x + b * B;
    float amax = 0.f;
    bool finite = true;
    for (int i = 0; i < B; ++i) {
      amax = std::max(amax, std::fabs(xb[i]));
      finite &= std::fabs(xb[i]) <= FLT_MAX;
    }
    // id = 127 / amax maps the largest magnitude to +-127 exactly; a zero
    // block gets q = 0 and d = 0. A block with an inf or nan gets q = 0 and a
    // nan scale, so the outputs it touches come out nan, as in f32.
    const float id = finite && amax > 0.f ? 127.f / amax : 0.f;
    d[b] = finite ? act_scale(B, amax, id) : NAN;
    int8_t* qb = q + b * B;
    for (int i = 0; i < B; ++i) qb[i] = finite ? static_cast<int8_t>(std::nearbyint(xb[i] * id)) : int8_t(0);
    for (int g = 0; g < B / G; ++g) {
      int s = 0;
      for (int i = 0; i < G; ++i) s += qb[g * G + i];
      sums[b * (B / G) + g] = static_cast<int16_t>(s);
    }
    if (B == 32) {
      float* ld = acts.lane_d(t) + 8 * b;
      int32_t* ln = acts.lane_negsum(t) + 8 * b;
      for (int i = 0; i < 8; ++i) {
        ld[i] = d[b];
        ln[i] = 0;
      }
      ln[0] = -sums[b];
    }
  }
}

}  // namespace kiln::cpu::mm
