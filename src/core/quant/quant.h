#pragma once
// Conversion of rows between f32 and the tensor types stored in GGUF files
// (plain f16/bf16 and ggml's block-quantized formats).
//
// These are the scalar reference routines: bit-exact with ggml / the gguf
// Python package for every type they both implement, deterministic on every
// machine, and the oracle the SIMD kernels are tested against.
#include <cstdint>

#include "core/dtype.h"

namespace kiln {

// Whether dequantize_row / quantize_row support type t.
bool can_dequantize(GgmlType t);
bool can_quantize(GgmlType t);

// Decodes n values of type t at src into dst. n must be a non-negative
// multiple of t's block size and src must hold row_bytes(t, n) bytes, aligned
// as the file format guarantees (4 bytes suffice for every type). Throws
// kiln::Error for an unsupported type, a bad n or a misaligned src.
void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n);

// Encodes n f32 values into type t at dst (row_bytes(t, n) bytes). Same
// requirements as dequantize_row. Block-quantized types also throw for a
// value that is not finite or above 2.7e8 in magnitude, and for a block whose
// scale overflows f16 (its largest magnitude is beyond what the format can
// represent); f16/bf16 encode infinities and NaNs as such.
void quantize_row(GgmlType t, const float* src, void* dst, int64_t n);

}  // namespace kiln
