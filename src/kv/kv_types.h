#pragma once
// Basic vocabulary of the paged KV cache: ids, element types, block hashes
// and the errors a scheduler reacts to.
#include <cstdint>
#include <limits>
#include <string>

#include "core/error.h"

namespace kiln::kv {

using Token = int32_t;
// Index of a block inside one layer group's pool.
using BlockId = uint32_t;
// Dense sequence id handed out by the cache (recycled after free), so that
// membership is a bit test and per-sequence state is an array slot.
using SeqId = uint32_t;

inline constexpr BlockId kNoBlock = std::numeric_limits<BlockId>::max();

// How K and V elements are stored in a block.
enum class KvType : uint8_t {
  F16,   // IEEE half, 2 bytes per value
  Q8_0,  // ggml q8_0: blocks of 32 values = f16 scale d + 32 int8 (34 bytes)
};

const char* kv_type_name(KvType t);

// Identity of a full block: a 128-bit hash of (parent block hash, the block's
// token ids, model identity), so equal hashes mean equal whole prefixes.
struct BlockHash {
  uint64_t lo = 0;
  uint64_t hi = 0;
  friend bool operator==(const BlockHash&, const BlockHash&) = default;
};

// Thrown when a request needs more blocks than the pool can give (free plus
// evictable). The cache state is unchanged, so the scheduler can back off,
// preempt another sequence, or refuse admission.
class OutOfBlocks : public kiln::Error {
 public:
  OutOfBlocks(int group, int64_t needed, int64_t available)
      : kiln::Error("KV cache out of blocks in layer group " + std::to_string(group) + ": need " +
                    std::to_string(needed) + ", available " + std::to_string(available)),
        group_(group),
        needed_(needed),
        available_(available) {}
  int group() const { return group_; }
  int64_t needed() const { return needed_; }
  int64_t available() const { return available_; }

 private:
  int group_;
  int64_t needed_;
  int64_t available_;
};

}  // namespace kiln::kv
