#pragma once
// `kiln create --quantize`: rewrites an F32/F16/BF16 GGUF as a quantized one
// (Q4_K_M, Q8_0, ...). The type of every tensor comes from the mix policy
// (gguf/quant_mix.h, llama-quantize's rules) and each row is encoded with the
// reference quantizers (core/quant/quant.h). Metadata is kept, except
// general.file_type and general.quantization_version which name the result.
#include <filesystem>
#include <string>
#include <string_view>

#include "gguf/gguf.h"
#include "gguf/quant_mix.h"
#include "store/blob_store.h"

namespace kiln::store {

// The file type for a --quantize argument; throws kiln::Error listing what is
// accepted when kiln cannot quantize to it.
gguf::FileType check_quant_target(std::string_view target);
// "q4_k_m" -> "Q4_K_M".
std::string canonical_quant_name(std::string_view target);

// Writes the quantized model to `out` (atomically). Throws kiln::Error when
// the source is not an F32/F16/BF16 model.
void quantize_gguf(const gguf::File& source, std::string_view target, const std::filesystem::path& out,
                   const ByteProgress& progress = {});

}  // namespace kiln::store
