#pragma once
// ggml tensor types as stored in GGUF files: ids, block sizes and block byte
// sizes. The ids are part of the file format and must never change.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kiln {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21,
  IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
  IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct TypeTraits {
  std::string_view name;   // as llama.cpp prints it: "q4_K", "f16", ...
  int64_t block_size;      // values per block (1 for plain types)
  size_t block_bytes;      // bytes per block
  bool quantized;
};

// Traits of a type id read from a file; nullopt for ids kiln does not know.
std::optional<TypeTraits> type_traits(uint32_t id);
// Traits of a known type (never fails).
TypeTraits traits(GgmlType t);
std::string_view type_name(GgmlType t);
// Parses "q4_K", "Q4_K", "f16", ... (case-insensitive); nullopt if unknown.
std::optional<GgmlType> parse_type_name(std::string_view name);
// Bytes for n values of type t; n must be a multiple of the block size.
size_t row_bytes(GgmlType t, int64_t n);

}  // namespace kiln
