#include "gguf/synthetic_fill.h"

#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/fp16.h"

namespace kiln::gguf {
namespace {

// splitmix64's finalizer over (seed, word index): a counter-based generator,
// so any byte range can be produced without generating what precedes it.
inline uint64_t mix(uint64_t seed, uint64_t word) {
  uint64_t z = seed + (word + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Byte p of the stream is byte (p % 8) of mix(seed, p / 8), little-endian.
void random_bytes(uint64_t seed, uint64_t offset, uint8_t* dst, size_t n) {
  size_t i = 0;
  uint64_t pos = offset;
  for (; i < n && pos % 8 != 0; ++i, ++pos) dst[i] = static_cast<uint8_t>(mix(seed, pos / 8) >> (8 * (pos % 8)));
  for (; i + 8 <= n; i += 8, pos += 8) {
    const uint64_t r = mix(seed, pos / 8);
    for (int k = 0; k < 8; ++k) dst[i + k] = static_cast<uint8_t>(r >> (8 * k));
  }
  for (; i < n; ++i, ++pos) dst[i] = static_cast<uint8_t>(mix(seed, pos / 8) >> (8 * (pos % 8)));
}

uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
void store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

// Overwrites the f16 at p with 2^(exponent-15) * (1 + random mantissa / 1024):
// finite, positive, within a factor of two of the chosen magnitude.
void set_scale(uint8_t* p, uint16_t exponent) {
  store16(p, static_cast<uint16_t>((exponent << 10) | (load16(p) & 0x3ffu)));
}

// For "d * q + m" formats: m = -center * d, so values straddle zero.
void set_min(uint8_t* p_min, const uint8_t* p_d, float center) {
  store16(p_min, fp32_to_fp16(-center * fp16_to_fp32(load16(p_d))));
}

// A float from 16 random bits, in the range the kind asks for.
float value_for(FillKind kind, uint16_t r) {
  const float u = static_cast<float>(r) / 65536.0f - 0.5f;  // [-0.5, 0.5)
  switch (kind) {
    case FillKind::Norm: return 1.0f + 0.1f * u;
    case FillKind::Bias: return 0.04f * u;
    case FillKind::Weight: break;
  }
  return 0.05f * u;
}

void fill_plain(GgmlType type, FillKind kind, uint8_t* dst, size_t n) {
  switch (type) {
    case GgmlType::F32:
      for (size_t i = 0; i + 4 <= n; i += 4) {
        const float f = value_for(kind, load16(dst + i));
        std::memcpy(dst + i, &f, 4);  // GGUF is little-endian, as are kiln's hosts
      }
      return;
    case GgmlType::F16:
      for (size_t i = 0; i + 2 <= n; i += 2) {
        const uint16_t r = load16(dst + i);
        // Weights straight from the bits: sign, exponent 2^-9..2^-6, mantissa.
        const uint16_t h = kind == FillKind::Weight
                               ? static_cast<uint16_t>((r & 0x83ffu) | ((6u + ((r >> 10) & 3u)) << 10))
                               : fp32_to_fp16(value_for(kind, r));
        store16(dst + i, h);
      }
      return;
    case GgmlType::BF16:
      for (size_t i = 0; i + 2 <= n; i += 2) {
        const uint16_t r = load16(dst + i);
        const uint16_t h = kind == FillKind::Weight
                               ? static_cast<uint16_t>((r & 0x807fu) | ((118u + ((r >> 7) & 3u)) << 7))
                               : fp32_to_bf16(value_for(kind, r));
        store16(dst + i, h);
      }
      return;
    default: break;
  }
  throw Error("random fill: unsupported plain type " + std::string(type_name(type)));
}

// Patches the scale fields of each block; the quants stay random. The
// exponents put typical |w| near 0.01-0.05 (see each comment).
void fill_blocks(GgmlType type, uint8_t* dst, size_t n) {
  const size_t bb = traits(type).block_bytes;
  for (uint8_t* b = dst; b + bb <= dst + n; b += bb) {
    switch (type) {
      case GgmlType::Q8_0: set_scale(b, 3); break;  // |q| ~ 64, d ~ 2^-12
      case GgmlType::IQ4_NL: set_scale(b, 3); break;  // |grid value| ~ 50
      case GgmlType::Q4_0: set_scale(b, 7); break;  // |q - 8| ~ 4, d ~ 2^-8
      case GgmlType::Q5_0: set_scale(b, 6); break;  // |q - 16| ~ 8
      case GgmlType::Q4_1:
        set_scale(b, 6);
        set_min(b + 2, b, 8.0f);
        break;
      case GgmlType::Q5_1:
        set_scale(b, 5);
        set_min(b + 2, b, 16.0f);
        break;
      case GgmlType::Q2_K:  // scales[16] qs[64] d dmin; scale nibbles ~ 7.5, q ~ 1.5
        set_scale(b + 80, 5);
        set_scale(b + 82, 6);
        break;
      case GgmlType::Q3_K: set_scale(b + 108, 4); break;  // hmask[32] qs[64] scales[12] d
      case GgmlType::Q4_K:  // d dmin scales[12] qs[128]; 6-bit scales ~ 31, q ~ 7.5
        set_scale(b, 1);
        set_scale(b + 2, 4);
        break;
      case GgmlType::Q5_K:  // d dmin scales[12] qh[32] qs[128]; q ~ 15.5
        set_scale(b, 1);
        set_scale(b + 2, 5);
        break;
      case GgmlType::Q6_K:  // ql[128] qh[64] scales[16] (int8) d
        // Positive sub-block scales 0..31 keep d a normal f16.
        for (int i = 0; i < 16; ++i) b[192 + i] &= 0x1f;
        set_scale(b + 208, 1);
        break;
      default:
        throw Error("random fill: unsupported quantized type " + std::string(type_name(type)));
    }
  }
}

}  // namespace

FillKind fill_kind_for(std::string_view name) {
  if (name.ends_with("norm.weight")) return FillKind::Norm;
  if (name.ends_with(".bias")) return FillKind::Bias;
  return FillKind::Weight;
}

uint64_t tensor_seed(uint64_t model_seed, std::string_view tensor_name) {
  // FNV-1a over the name, then mixed with the model seed.
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : tensor_name) h = (h ^ c) * 0x100000001b3ull;
  return mix(model_seed, h);
}

void fill_random(GgmlType type, FillKind kind, uint64_t seed, uint64_t offset, uint8_t* dst, size_t n) {
  const TypeTraits tr = traits(type);
  if (offset % tr.block_bytes != 0 || n % tr.block_bytes != 0)
    throw Error("random fill: " + std::string(tr.name) + " data must be handed in whole blocks of " +
                std::to_string(tr.block_bytes) + " bytes");
  random_bytes(seed, offset, dst, n);
  if (tr.quantized) fill_blocks(type, dst, n);
  else fill_plain(type, kind, dst, n);
}

Writer::Fill make_random_fill(GgmlType type, FillKind kind, uint64_t seed) {
  // Fail now, not in the middle of writing a file.
  uint8_t probe[512];
  fill_random(type, kind, seed, 0, probe, traits(type).block_bytes);
  auto position = std::make_shared<uint64_t>(0);
  return [=](uint8_t* dst, size_t n) {
    fill_random(type, kind, seed, *position, dst, n);
    *position += n;
  };
}

}  // namespace kiln::gguf
