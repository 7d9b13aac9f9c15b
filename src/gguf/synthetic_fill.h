#pragma once
// Random tensor data that is valid for its type: every value a reader decodes
// is finite and small (|w| around 0.01-0.05), norms are near 1, quant blocks
// have finite, moderate f16 scales and random quants. Data is a pure function
// of (seed, byte position) so it is the same however the writer chunks it,
// and fast (a counter-based PRNG, no quantization): a multi-GB model is
// written at disk speed.
#include <cstdint>
#include <string_view>

#include "core/dtype.h"
#include "gguf/gguf.h"

namespace kiln::gguf {

enum class FillKind {
  Weight,  // matrices: small values around 0
  Norm,    // RMS norm gains: values in [0.95, 1.05]
  Bias,    // small values around 0
};

// Norm for "*norm.weight", Bias for "*.bias", else Weight.
FillKind fill_kind_for(std::string_view tensor_name);

// Seed of one tensor: mixes the model seed with the tensor name, so tensors
// are independent and reordering them changes nothing.
uint64_t tensor_seed(uint64_t model_seed, std::string_view tensor_name);

// A Writer::Fill producing the tensor's bytes in order. Supports F32, F16,
// BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL and Q2_K..Q6_K; throws
// kiln::Error for other types. Each call must hand whole blocks.
Writer::Fill make_random_fill(GgmlType type, FillKind kind, uint64_t seed);

// The same bytes as make_random_fill, for bytes [offset, offset + n) of the
// tensor (offset and n whole blocks). Exposed for tests.
void fill_random(GgmlType type, FillKind kind, uint64_t seed, uint64_t offset, uint8_t* dst, size_t n);

}  // namespace kiln::gguf
