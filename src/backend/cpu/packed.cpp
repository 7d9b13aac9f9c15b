// Repacking GGUF weight rows into the 16-row interleaved layout of packed.h.
// Plain C++: it runs once per weight at load, at memory speed either way.
#include "backend/cpu/packed.h"

#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "core/error.h"
#include "core/quant/blocks.h"
#include "core/quant/quant.h"

namespace kiln::cpu {

namespace {

using namespace kiln::quant;

constexpr size_t kChunk = 64;  // one zmm: 4 bytes for each of 16 rows

size_t chunk_bytes(GgmlType t) {
  switch (t) {
    case GgmlType::Q8_0: return 8 * kChunk;
    case GgmlType::Q4_0: return 4 * kChunk;
    case GgmlType::Q5_0: return 5 * kChunk;
    default: return 0;
  }
}

// The 32 quant bytes / 16 nibble bytes of a block, its scale and (Q5_0) its
// fifth bits, whatever the block type.
struct BlockView {
  uint16_t d;
  const uint8_t* qs;
  uint32_t qh;
};

BlockView view(GgmlType t, const uint8_t* p) {
  BlockView v{};
  switch (t) {
    case GgmlType::Q8_0: {
      const auto* b = reinterpret_cast<const BlockQ8_0*>(p);
      v.d = b->d;
      v.qs = reinterpret_cast<const uint8_t*>(b->qs);
      break;
    }
    case GgmlType::Q4_0: {
      const auto* b = reinterpret_cast<const BlockQ4_0*>(p);
      v.d = b->d;
      v.qs = b->qs;
      break;
    }
    default: {
      const auto* b = reinterpret_cast<const BlockQ5_0*>(p);
      v.d = b->d;
      v.qs = b->qs;
      std::memcpy(&v.qh, b->qh, 4);
      break;
    }
  }
  return v;
}

}  // namespace

void PackedWeights::Free::operator()(uint8_t* p) const noexcept { std::free(p); }

bool PackedWeights::supports(GgmlType type) { return chunk_bytes(type) != 0; }

PackedWeights::PackedWeights(const void* w, GgmlType type, int64_t N, int64_t K, size_t stride)
    : type_(type), N_(N), K_(K), original_(static_cast<const uint8_t*>(w)), stride_(stride) {
  if (!supports(type)) throw kiln::Error("packed weights: no packed layout for " + std::string(type_name(type)));
  if (N < 0 || K <= 0 || K % 32 != 0 || stride < row_bytes(type, K))
    throw kiln::Error("packed weights: bad sizes N=" + std::to_string(N) + " K=" + std::to_string(K) + " for " +
                      std::string(type_name(type)));
  const int64_t nb = K / 32;
  scale_bytes_ = (size_t(nb) * 2 * kRows + 63) / 64 * 64;
  block_bytes_ = chunk_bytes(type);
  group_bytes_ = scale_bytes_ + size_t(nb) * block_bytes_;
  const int64_t groups = N / kRows;
  if (groups == 0) return;
  // Large copies on 2 MiB pages where the kernel allows it (THP "madvise"
  // mode): decode streams every byte once per token, and 4 KiB pages cost a
  // TLB miss per 4 KiB of weights.
  constexpr size_t kHuge = size_t(2) << 20;
  const bool huge = bytes() >= kHuge;
  const size_t alloc = huge ? (bytes() + kHuge - 1) / kHuge * kHuge : (bytes() + 63) / 64 * 64;
  data_.reset(static_cast<uint8_t*>(std::aligned_alloc(huge ? kHuge : 64, alloc)));
  if (!data_) throw kiln::Error("packed weights: cannot allocate " + std::to_string(bytes()) + " bytes");
#if defined(__linux__)
  if (huge) madvise(data_.get(), alloc, MADV_HUGEPAGE);  // a hint: failure only costs speed
#endif
  const size_t src_block = traits(type).block_bytes;
  for (int64_t g = 0; g < groups; ++g) {
    uint8_t* out = data_.get() + size_t(g) * group_bytes_;
    std::memset(out, 0, group_bytes_);
    uint16_t* scales = reinterpret_cast<uint16_t*>(out);
    for (int r = 0; r < kRows; ++r) {
      const uint8_t* row = original_ + size_t(g * kRows + r) * stride_;
      for (int64_t b = 0; b < nb; ++b) {
        const BlockView v = view(type, row + size_t(b) * src_block);
        scales[b * kRows + r] = v.d;
        uint8_t* blk = out + scale_bytes_ + size_t(b) * block_bytes_;
        if (type == GgmlType::Q8_0) {
          for (int c = 0; c < 8; ++c)
            for (int j = 0; j < 4; ++j) blk[c * kChunk + 4 * r + j] = uint8_t(v.qs[4 * c + j] ^ 0x80);
          continue;
        }
        for (int c = 0; c < 4; ++c)
          for (int j = 0; j < 4; ++j) blk[c * kChunk + 4 * r + j] = v.qs[4 * c + j];
        if (type == GgmlType::Q5_0) {
          uint8_t* high = blk + 4 * kChunk;
          for (int c = 0; c < 8; ++c)
            for (int j = 0; j < 4; ++j) high[4 * r + j] |= uint8_t(((v.qh >> (4 * c + j)) & 1) << c);
        }
      }
    }
  }
}

}  // namespace kiln::cpu
