// Public entry points of core/quant: validate the request, then dispatch to
// the per-type kernel.
#include "core/quant/quant.h"

#include <cmath>
#include <cstring>
#include <sstream>
#include <string>

#include "core/error.h"
#include "core/quant/kernels.h"

namespace kiln {
namespace {

using quant::BlockIQ4_NL;
using quant::BlockIQ4_XS;
using quant::BlockQ2_K;
using quant::BlockQ3_K;
using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ4_K;
using quant::BlockQ5_0;
using quant::BlockQ5_1;
using quant::BlockQ5_K;
using quant::BlockQ6_K;
using quant::BlockQ8_0;
using quant::BlockQ8_K;
using quant::BlockMXFP4;
using quant::BlockTQ1_0;
using quant::BlockTQ2_0;

// Kernels take (blocks or scalars) counts; the table adapts them to bytes.
struct Codec {
  GgmlType type;
  size_t alignment;  // what the block struct needs
  void (*dequantize)(const void* src, float* dst, int64_t nblocks);
  void (*quantize)(const float* src, void* dst, int64_t nblocks);  // nullptr: not supported
};

template <typename Block, void (*Kernel)(const Block*, float*, int64_t)>
void dequantize_as(const void* src, float* dst, int64_t nblocks) {
  Kernel(static_cast<const Block*>(src), dst, nblocks);
}

template <typename Block, void (*Kernel)(const float*, Block*, int64_t)>
void quantize_as(const float* src, void* dst, int64_t nblocks) {
  Kernel(src, static_cast<Block*>(dst), nblocks);
}

void copy_f32_in(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }
void copy_f32_out(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }

constexpr Codec kCodecs[] = {
    {GgmlType::F32, 1, copy_f32_in, copy_f32_out},
    {GgmlType::F16, 2, dequantize_as<uint16_t, quant::dequantize_f16>, quantize_as<uint16_t, quant::quantize_f16>},
    {GgmlType::BF16, 2, dequantize_as<uint16_t, quant::dequantize_bf16>, quantize_as<uint16_t, quant::quantize_bf16>},
    {GgmlType::Q4_0, alignof(BlockQ4_0), dequantize_as<BlockQ4_0, quant::dequantize_q4_0>,
     quantize_as<BlockQ4_0, quant::quantize_q4_0>},
    {GgmlType::Q4_1, alignof(BlockQ4_1), dequantize_as<BlockQ4_1, quant::dequantize_q4_1>,
     quantize_as<BlockQ4_1, quant::quantize_q4_1>},
    {GgmlType::Q5_0, alignof(BlockQ5_0), dequantize_as<BlockQ5_0, quant::dequantize_q5_0>,
     quantize_as<BlockQ5_0, quant::quantize_q5_0>},
    {GgmlType::Q5_1, alignof(BlockQ5_1), dequantize_as<BlockQ5_1, quant::dequantize_q5_1>,
     quantize_as<BlockQ5_1, quant::quantize_q5_1>},
    {GgmlType::Q8_0, alignof(BlockQ8_0), dequantize_as<BlockQ8_0, quant::dequantize_q8_0>,
     quantize_as<BlockQ8_0, quant::quantize_q8_0>},
    {GgmlType::Q2_K, alignof(BlockQ2_K), dequantize_as<BlockQ2_K, quant::dequantize_q2_k>,
     quantize_as<BlockQ2_K, quant::quantize_q2_k>},
    {GgmlType::Q3_K, alignof(BlockQ3_K), dequantize_as<BlockQ3_K, quant::dequantize_q3_k>,
     quantize_as<BlockQ3_K, quant::quantize_q3_k>},
    {GgmlType::Q4_K, alignof(BlockQ4_K), dequantize_as<BlockQ4_K, quant::dequantize_q4_k>,
     quantize_as<BlockQ4_K, quant::quantize_q4_k>},
    {GgmlType::Q5_K, alignof(BlockQ5_K), dequantize_as<BlockQ5_K, quant::dequantize_q5_k>,
     quantize_as<BlockQ5_K, quant::quantize_q5_k>},
    {GgmlType::Q6_K, alignof(BlockQ6_K), dequantize_as<BlockQ6_K, quant::dequantize_q6_k>,
     quantize_as<BlockQ6_K, quant::quantize_q6_k>},
    {GgmlType::Q8_K, alignof(BlockQ8_K), dequantize_as<BlockQ8_K, quant::dequantize_q8_k>,
     quantize_as<BlockQ8_K, quant::quantize_q8_k>},
    {GgmlType::IQ4_NL, alignof(BlockIQ4_NL), dequantize_as<BlockIQ4_NL, quant::dequantize_iq4_nl>, nullptr},
    {GgmlType::IQ4_XS, alignof(BlockIQ4_XS), dequantize_as<BlockIQ4_XS, quant::dequantize_iq4_xs>, nullptr},
    {GgmlType::TQ1_0, alignof(BlockTQ1_0), dequantize_as<BlockTQ1_0, quant::dequantize_tq1_0>, nullptr},
    {GgmlType::TQ2_0, alignof(BlockTQ2_0), dequantize_as<BlockTQ2_0, quant::dequantize_tq2_0>, nullptr},
    {GgmlType::MXFP4, alignof(BlockMXFP4), dequantize_as<BlockMXFP4, quant::dequantize_mxfp4>, nullptr},
};

const Codec* find_codec(GgmlType t) {
  for (const Codec& c : kCodecs)
    if (c.type == t) return &c;
  return nullptr;
}

std::string type_label(GgmlType t) {
  if (auto tr = type_traits(static_cast<uint32_t>(t))) return std::string(tr->name);
  return "type id " + std::to_string(static_cast<uint32_t>(t));
}

// Checks n and alignment; returns the number of blocks.
int64_t check_row(const char* what, GgmlType t, const Codec& codec, const void* ptr, int64_t n) {
  const int64_t block = traits(t).block_size;
  if (n < 0 || n % block != 0)
    throw Error(std::string(what) + " " + type_label(t) + ": row of " + std::to_string(n) +
                " values is not a multiple of the block size " + std::to_string(block));
  if (reinterpret_cast<uintptr_t>(ptr) % codec.alignment != 0)
    throw Error(std::string(what) + " " + type_label(t) + ": data is not aligned to " +
                std::to_string(codec.alignment) + " bytes");
  return n / block;
}

}  // namespace

bool can_dequantize(GgmlType t) { return find_codec(t) != nullptr; }

bool can_quantize(GgmlType t) {
  const Codec* c = find_codec(t);
  return c && c->quantize;
}

void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n) {
  const Codec* codec = find_codec(t);
  if (!codec) throw Error("cannot dequantize " + type_label(t) + ": type not supported");
  const int64_t count = check_row("cannot dequantize", t, *codec, src, n);
  codec->dequantize(src, dst, count);
}

void quantize_row(GgmlType t, const float* src, void* dst, int64_t n) {
  const Codec* codec = find_codec(t);
  if (!codec || !codec->quantize) throw Error("cannot quantize to " + type_label(t) + ": type not supported");
  const int64_t count = check_row("cannot quantize to", t, *codec, dst, n);
  // Block formats derive scales from the values: one nan or inf would poison
  // its whole block, so reject it with its position instead. So are values
  // beyond what any block format can encode (the largest is q6_K's
  // 65504 * 127 * 32): past that, the squared-error searches overflow too.
  if (traits(t).quantized) {
    constexpr float kLargestEncodable = 65504.0f * 127 * 32;
    for (int64_t i = 0; i < n; ++i) {
      if (!(std::fabs(src[i]) <= kLargestEncodable)) {
        std::ostringstream msg;
        msg << "cannot quantize to " << type_label(t) << ": value " << i << " is " << src[i];
        if (std::isfinite(src[i])) msg << ", too large for any block format";
        throw Error(msg.str());
      }
    }
  }
  try {
    codec->quantize(src, dst, count);
  } catch (const Error& e) {
    throw Error("cannot quantize to " + type_label(t) + ": " + e.what());
  }
}

}  // namespace kiln
