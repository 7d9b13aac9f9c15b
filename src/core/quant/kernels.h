#pragma once
// Per-type scalar kernels behind quant.h. Each converts a whole number of
// blocks; the dispatcher in quant.cpp validates sizes, alignment and values
// before calling them, so the kernels themselves never fail except where noted.
#include <cstdint>

#include "core/quant/blocks.h"

namespace kiln::quant {

void dequantize_f16(const uint16_t* x, float* y, int64_t n);
void dequantize_bf16(const uint16_t* x, float* y, int64_t n);
void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t nblocks);
void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t nblocks);
void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t nblocks);
void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t nblocks);
void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t nblocks);
void dequantize_q2_k(const BlockQ2_K* x, float* y, int64_t nblocks);
void dequantize_q3_k(const BlockQ3_K* x, float* y, int64_t nblocks);
void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t nblocks);
void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t nblocks);
void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t nblocks);
void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t nblocks);
void dequantize_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t nblocks);
void dequantize_iq4_xs(const BlockIQ4_XS* x, float* y, int64_t nblocks);
void dequantize_tq1_0(const BlockTQ1_0* x, float* y, int64_t nblocks);
void dequantize_tq2_0(const BlockTQ2_0* x, float* y, int64_t nblocks);
void dequantize_mxfp4(const BlockMXFP4* x, float* y, int64_t nblocks);

// The quantizers below expect finite input (checked by the dispatcher) and
// throw kiln::Error when a block's f16 scale would overflow.
void quantize_f16(const float* x, uint16_t* y, int64_t n);
void quantize_bf16(const float* x, uint16_t* y, int64_t n);
void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nblocks);
void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t nblocks);
void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t nblocks);
void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t nblocks);
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nblocks);
void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t nblocks);
void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t nblocks);
void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t nblocks);
void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t nblocks);
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t nblocks);
void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t nblocks);

// f32 -> f16 for a block scale; throws kiln::Error if it overflows to infinity.
uint16_t scale_to_fp16(float d);

}  // namespace kiln::quant
