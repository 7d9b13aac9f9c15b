#pragma once
// Byte layouts of ggml's quantized blocks, exactly as stored in GGUF files.
// Every struct mirrors one block; the static_asserts pin the sizes to the
// file format (and to the dtype table), so a layout mistake fails to compile.
//
// Scales named `d`/`dmin`/`m` are IEEE half bits (see core/fp16.h) except in
// BlockQ8_K, whose scale is an f32. Blocks are read straight from mapped
// files, so the structs contain only fixed-width integers and no padding.
#include <cstdint>

namespace kiln::quant {

inline constexpr int kQK = 32;    // values per block of the "legacy" types
inline constexpr int kQK_K = 256; // values per super-block of the K-quants
inline constexpr int kKScaleBytes = 12;  // packed 6-bit scales and mins (Q4_K, Q5_K)

// x = d * (q - 8); q is 4 bits: value j in the low nibble of qs[j], value
// j + 16 in the high nibble.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};

// x = d * q + m; q is 4 bits, packed as in Q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};

// x = d * (q - 16); q is 5 bits: low 4 packed as in Q4_0, bit 4 of value j is
// bit j of the little-endian u32 qh.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// x = d * q + m; q is 5 bits, packed as in Q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// x = d * q; q is a signed byte.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};

// 16 groups of 16 values; x = d * (scales[g] & 15) * q - dmin * (scales[g] >> 4);
// q is 2 bits. Within each half of 128 values, qs byte l holds values l, l+32,
// l+64, l+96 in bits 0-1, 2-3, 4-5, 6-7 (groups of 16 follow the same order).
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};

// 16 groups of 16; x = d * (s - 32) * (q - 4 * !high_bit); s is 6 bits packed
// into 12 bytes (low nibbles in bytes 0-7, top 2 bits in bytes 8-11); the low
// 2 bits of q are packed as in Q2_K; the high bit of value v is bit v/32 of
// hmask[v % 32].
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};

// 8 groups of 32; x = d * sc[g] * q - dmin * mn[g]; sc and mn are 6 bits packed
// into 12 bytes (see unpack_scale_min_k4); q is 4 bits: within each 64 values,
// qs byte l holds value l (low nibble) and value l + 32 (high nibble).
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};

// As Q4_K with 5-bit q; bit 4 of value 64*p + l (l < 32) is bit 2p of qh[l],
// of value 64*p + 32 + l it is bit 2p + 1.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// 16 groups of 16; x = d * scales[g] * (q - 32); q is 6 bits: within each 128
// values, ql byte l holds values l (low) and l + 64 (high nibble), ql byte
// l + 32 holds l + 32 and l + 96; qh byte l holds the top 2 bits of values
// l, l + 32, l + 64, l + 96.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

// Intermediate format for dot products: x = d * q, with per-16 sums of q.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

// x = d * kIq4nlValues[q]; q is 4 bits packed as in Q4_0.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK / 2];
};

// 8 groups of 32; x = d * (s - 32) * kIq4nlValues[q]; s is 6 bits: low nibble
// in scales_l (group g at nibble g of the array), top 2 bits at bits 2g of
// scales_h; each group's 16 qs bytes are packed as in IQ4_NL.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[kQK_K / 64];
  uint8_t qs[kQK_K / 2];
};

// Ternary (BitNet-style) weights, x = d * (t - 1) with t in {0, 1, 2}. TQ2_0
// stores t in 2 bits: within each 128 values, qs byte l holds values l, l+32,
// l+64, l+96 in bits 0-1, 2-3, 4-5, 6-7.
struct BlockTQ2_0 {
  uint8_t qs[kQK_K / 4];
  uint16_t d;
};

// TQ1_0 packs 5 trits per byte (4 in qh) as a base-3 fraction of 256: the
// k-th trit of byte q is ((q * 3^k mod 256) * 3) >> 8. Bytes 0-31 give values
// 32k + l (k = 0..4), bytes 32-47 give 160 + 16k + l, qh gives 240 + 4k + l.
struct BlockTQ1_0 {
  uint8_t qs[(kQK_K - 4 * kQK_K / 64) / 5];
  uint8_t qh[kQK_K / 64];
  uint16_t d;
};

// OCP microscaling FP4: x = 2^(e - 127) * kMxfp4Values[q] / 2, with q an
// E2M1 code packed as in Q4_0 and e a shared 8-bit exponent.
struct BlockMXFP4 {
  uint8_t e;
  uint8_t qs[kQK / 2];
};

// E2M1 values, doubled so that they are integers.
inline constexpr int8_t kMxfp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// The non-linear 4-bit grid of IQ4_NL and IQ4_XS.
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136);
static_assert(sizeof(BlockTQ1_0) == 54);
static_assert(sizeof(BlockTQ2_0) == 66);
static_assert(sizeof(BlockMXFP4) == 17);

// Q4_K/Q5_K pack 8 six-bit scales and 8 six-bit mins into 12 bytes: groups
// 0-3 use the low 6 bits of bytes 0-3 (scale) and 4-7 (min); groups 4-7 keep
// their low 4 bits in the nibbles of bytes 8-11 and their top 2 bits in the
// spare top bits of bytes 0-7.
inline void unpack_scale_min_k4(int group, const uint8_t* packed, uint8_t& scale, uint8_t& min) {
  if (group < 4) {
    scale = packed[group] & 63;
    min = packed[group + 4] & 63;
  } else {
    scale = static_cast<uint8_t>((packed[group + 4] & 0xF) | ((packed[group - 4] >> 6) << 4));
    min = static_cast<uint8_t>((packed[group + 4] >> 4) | ((packed[group] >> 6) << 4));
  }
}

}  // namespace kiln::quant
