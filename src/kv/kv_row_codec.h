// How one head row of K or V (head_dim values of one token) is stored in a
// KV block, in one place for the cache's own write/gather, the CPU attention
// kernel and the scalar reference.
//
// f16: the values rounded to half. q8_0: the row is first rotated by an
// orthonormal Walsh-Hadamard transform in groups of `rotation` values, then
// stored as ggml q8_0 blocks. A q8_0 block shares one scale among 32 values,
// so one large value (Qwen2's K biases put values of 100-200 next to values
// of 1) sets a step of amax/127 for the others; the rotation spreads such
// outliers over the whole group before rounding. Since the transform is
// orthonormal, q.k = (Hq).(Hk) and sum w (Hv) = H (sum w v): attention can
// run entirely in the rotated space (rotate the query, undo the rotation on
// the output) and the result is that of the unrotated values up to rounding.
// llama.cpp does the same for quantized caches (attn_rot_k / attn_rot_v in
// its src/llama-kv-cache.cpp, whose comments cite ggml-org/llama.cpp PR
// 21038): K with the largest power-of-two group dividing the head dim, V
// with groups of 64. Without it kiln's q8_0 cache lost 5x more than
// llama.cpp's on qwen2.5 (docs/kv-tiers.md).
#pragma once

#include <cstdint>

#include "kv/kv_types.h"

namespace kiln::kv {

// Group size of the rotation applied to K / V rows before storage, 0: none
// (f16, or a head dim without a power-of-two factor of at least 32).
int k_rotation(KvType type, int head_dim);
int v_rotation(KvType type, int head_dim);

// x <- H x on each consecutive group of `group` values (group a power of
// two dividing n), H the Sylvester Hadamard matrix scaled by 1/sqrt(group):
// orthonormal and its own inverse. group 0 leaves x as it is.
void hadamard_rotate(float* x, int64_t n, int group);

// Encodes n values as the cache stores them: rotated (into scratch, n
// floats), then converted to the element type. x is left as it is.
void store_row(KvType type, int rotation, const float* x, uint8_t* dst, int n, float* scratch);

// Decodes a stored row to the values it stands for (the rotation undone).
void load_row(KvType type, int rotation, const uint8_t* src, float* y, int n);

}  // namespace kiln::kv
