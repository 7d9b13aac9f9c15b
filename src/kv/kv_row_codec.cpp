#include "kv/kv_row_codec.h"

#include <cmath>
#include <cstring>

#include "core/quant/quant.h"

namespace kiln::kv {

namespace {

GgmlType ggml_type(KvType t) { return t == KvType::F16 ? GgmlType::F16 : GgmlType::Q8_0; }

// The largest power of two dividing n, at most `cap`.
int pow2_factor(int n, int cap) {
  int g = 1;
  while (g < cap && n % (2 * g) == 0) g *= 2;
  return g;
}

}  // namespace

int k_rotation(KvType type, int head_dim) {
  if (type != KvType::Q8_0 || head_dim <= 0) return 0;
  const int g = pow2_factor(head_dim, 1 << 12);
  return g >= 32 ? g : 0;
}

int v_rotation(KvType type, int head_dim) {
  if (type != KvType::Q8_0 || head_dim <= 0) return 0;
  const int g = pow2_factor(head_dim, 64);
  return g >= 32 ? g : 0;
}

void hadamard_rotate(float* x, int64_t n, int group) {
  if (group <= 1) return;
  const float norm = 1.0f / std::sqrt(float(group));
  for (int64_t base = 0; base + group <= n; base += group) {
    float* v = x + base;
    for (int h = 1; h < group; h *= 2)
      for (int i = 0; i < group; i += 2 * h)
        for (int j = i; j < i + h; ++j) {
          const float a = v[j], b = v[j + h];
          v[j] = a + b;
          v[j + h] = a - b;
        }
    for (int j = 0; j < group; ++j) v[j] *= norm;
  }
}

void store_row(KvType type, int rotation, const float* x, uint8_t* dst, int n, float* scratch) {
  if (rotation > 0) {
    std::memcpy(scratch, x, size_t(n) * sizeof(float));
    hadamard_rotate(scratch, n, rotation);
    x = scratch;
  }
  quantize_row(ggml_type(type), x, dst, n);
}

void load_row(KvType type, int rotation, const uint8_t* src, float* y, int n) {
  dequantize_row(ggml_type(type), src, y, n);
  hadamard_rotate(y, n, rotation);
}

}  // namespace kiln::kv
