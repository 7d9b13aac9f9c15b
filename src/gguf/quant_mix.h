#pragma once
// Which ggml type each tensor of a model gets for a target file type
// ("Q4_K_M", "Q8_0", ...), following llama.cpp's llama-quantize so that files
// kiln writes (`kiln create --quantize`, `kiln synth`) have the same tensor
// types, sizes and speed as the files people download.
//
// The rules (llama.cpp src/llama-quant.cpp, llama_tensor_get_type):
// - only 2-D+ tensors whose name ends in "weight" and is not a norm are
//   quantized; the rest keep their source type (F32 norms, biases, rope_freqs);
// - output.weight (or token_embd.weight when the model has no output.weight,
//   i.e. tied embeddings) gets Q6_K, or Q8_0 when its rows are not a multiple
//   of the Q6_K block;
// - Q4_K_M / Q5_K_M give Q6_K to attn_v and ffn_down on the layers where
//   use_more_bits(layer, n_layers) holds (the first and last eighth, and every
//   third layer in between);
// - a type whose block does not divide the row length falls back:
//   Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> IQ4_NL, and to F16
//   if even that does not divide.
// Not covered (kiln writes none of these): mixture-of-experts rules, imatrix
// dependent rules and the IQ/Q2_K/Q3_K file types.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace kiln::gguf {

// llama.cpp's llama_ftype numbers: the value of general.file_type.
enum class FileType : uint32_t {
  ALL_F32 = 0,
  MOSTLY_F16 = 1,
  MOSTLY_Q4_0 = 2,
  MOSTLY_Q4_1 = 3,
  MOSTLY_Q8_0 = 7,
  MOSTLY_Q5_0 = 8,
  MOSTLY_Q5_1 = 9,
  MOSTLY_Q4_K_S = 14,
  MOSTLY_Q4_K_M = 15,
  MOSTLY_Q5_K_S = 16,
  MOSTLY_Q5_K_M = 17,
  MOSTLY_Q6_K = 18,
  MOSTLY_BF16 = 32,
};

// "Q4_K_M", "q4_k_m", "f16", "Q8_0", ... (case-insensitive); nullopt if kiln
// cannot produce that file type.
std::optional<FileType> parse_file_type(std::string_view name);
// Canonical name as llama.cpp prints it: "Q4_K_M", "Q8_0", "F16", ...
std::string_view file_type_name(FileType ft);
// Every file type kiln can write, in ascending general.file_type order.
std::span<const FileType> supported_file_types();
// The type most tensors get (Q4_K for Q4_K_M, F16 for F16, ...).
GgmlType default_tensor_type(FileType ft);

// What the policy needs to know about the model as a whole.
struct MixModel {
  std::string arch;           // general.architecture ("llama", "qwen2", ...)
  int n_layers = 0;           // <arch>.block_count
  bool has_output = true;     // false when token_embd doubles as the output (tied)
  bool is_70b = false;        // llama.cpp's LLM_TYPE_70B: attn_v gets more bits
  // llama.cpp counts attn_v / ffn_down tensors in the order it visits them.
  // Since mid-2024 that is layer order; older versions (which made e.g. Qwen's
  // official Qwen2.5 GGUFs) visited tensors in name order: blk.0, blk.1,
  // blk.10, ..., blk.19, blk.2, ... so use_more_bits picked other layers.
  bool name_ordered_layers = false;
};

// Would llama-quantize quantize this tensor at all (by name and rank)?
bool is_quantizable(std::string_view name, size_t n_dims);

// The type llama-quantize gives tensor `name` of shape `shape` (ne[0] first)
// in a file of type `ft`. `source_type` is the tensor's type before
// quantization (what non-quantized tensors keep; F32 for norms and biases of
// converted models). Throws kiln::Error when the row length fits no type.
GgmlType tensor_type_for(FileType ft, const MixModel& model, std::string_view name,
                         std::span<const int64_t> shape, GgmlType source_type);

// Layer index in a "blk.<i>." tensor name, or -1.
int layer_of(std::string_view name);

}  // namespace kiln::gguf
