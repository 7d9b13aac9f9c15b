#pragma once
// Weights repacked at load into a row-interleaved layout for the AVX-512
// VNNI kernels (backend/cpu/avx512/matmul_avx512_packed.cpp).
//
// Why: in the GGUF layout a weight row's 32-value block is one run of bytes,
// so a kernel dots one weight row at a time and reduces 16 lanes to one
// output. Interleaved, a zmm holds 4 consecutive values of each of 16 weight
// rows (lane r = row r), so one vpdpbusd against 4 activation bytes broadcast
// from memory advances 16 outputs at once, the result is already 16 outputs
// (no horizontal sums), and one load of weights serves every activation row
// of a prefill tile.
//
// Layout: rows are taken in groups of 16. A group of K values per row is
//   uint16 d[K/32][16]        the f16 block scales (row r in slot r),
//                             padded to a 64-byte multiple
//   then per 32-value block b, 64-byte chunks ("lane r" = bytes 4r..4r+3):
//     q8_0x16: 8 chunks; chunk c lane r = row r values 4c..4c+3, + 128 (u8)
//     q4_0x16: 4 chunks; chunk c lane r = row r's Q4_0 qs[4c..4c+3]: low
//              nibbles are values 4c..4c+3, high nibbles values 16+4c..
//     q5_0x16: as q4_0x16, then one chunk of fifth bits: bit c of byte
//              4r+j is the fifth bit of row r's value 4c+j (one zmm load and
//              a shift per chunk put them in place; mask registers loaded
//              from memory stall the stream from DRAM on this CPU)
// so the unsigned values are (q + 128), q (offset 8) and q (offset 16): the
// kernels start each block's sum at -offset * sum(activations of the block).
// Every group is the same size and 64-byte aligned; the last N % 16 rows stay
// in the original layout and run through the ordinary row kernels.
// Packed bytes equal the original bytes (plus the scale padding).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/dtype.h"

namespace kiln::cpu {

class PackedWeights {
 public:
  static constexpr int kRows = 16;  // rows per interleaved group

  // Whether `type` has a packed layout (the kernels need AVX-512 VNNI).
  static bool supports(GgmlType type);
  // Repacks the first N / 16 * 16 rows of w (N rows of K values of `type`,
  // rows `stride` bytes apart). w must outlive the result: the tail rows are
  // read from it. Throws kiln::Error for an unsupported type or bad sizes.
  PackedWeights(const void* w, GgmlType type, int64_t N, int64_t K, size_t stride);

  GgmlType type() const noexcept { return type_; }
  int64_t rows() const noexcept { return N_; }
  int64_t cols() const noexcept { return K_; }
  int64_t packed_rows() const noexcept { return N_ / kRows * kRows; }
  // The original weights (all N rows) and their row stride.
  const uint8_t* original() const noexcept { return original_; }
  size_t stride() const noexcept { return stride_; }
  // Group g (rows 16g .. 16g+15).
  const uint8_t* group(int64_t g) const noexcept { return data_.get() + size_t(g) * group_bytes_; }
  size_t group_bytes() const noexcept { return group_bytes_; }
  // Offset of block b's chunks inside a group, and the bytes of one block.
  size_t scale_bytes() const noexcept { return scale_bytes_; }
  size_t block_bytes() const noexcept { return block_bytes_; }
  size_t bytes() const noexcept { return group_bytes_ * size_t(N_ / kRows); }

 private:
  struct Free {
    void operator()(uint8_t* p) const noexcept;
  };
  GgmlType type_;
  int64_t N_, K_;
  const uint8_t* original_;
  size_t stride_;
  size_t scale_bytes_ = 0, block_bytes_ = 0, group_bytes_ = 0;
  std::unique_ptr<uint8_t, Free> data_;
};

}  // namespace kiln::cpu
