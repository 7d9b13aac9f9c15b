#pragma once
// Random-weight GGUF models with a real model's exact tensor names, shapes,
// quantization types and metadata (see presets.h): what `kiln synth` writes so
// that benchmarks and load tests run at real sizes without the real weights.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/presets.h"
#include "gguf/quant_mix.h"

namespace kiln::gguf {

struct SyntheticTensor {
  std::string name;
  std::vector<int64_t> shape;  // ne[0] first
  GgmlType type;
  uint64_t nbytes;
};

struct SyntheticPlan {
  const Preset* preset = nullptr;
  FileType file_type = FileType::MOSTLY_F16;
  int64_t n_layers = 0;
  std::vector<SyntheticTensor> tensors;

  uint64_t tensor_bytes() const;  // data only, without alignment padding
};

// Tensors and their types for `preset` written as `file_type`. n_layers 0
// keeps the preset's layer count (a smaller one is for tests).
SyntheticPlan plan_synthetic(const Preset& preset, FileType file_type, int64_t n_layers = 0);

// Every metadata key the file will carry: architecture, tokenizer,
// general.file_type.
std::vector<std::pair<std::string, Value>> synthetic_metadata(const SyntheticPlan& plan);

// Exact size of the GGUF file `kiln::gguf::Writer` produces for this
// metadata and tensor table (v3, alignment 32).
uint64_t gguf_file_size(const std::vector<std::pair<std::string, Value>>& metadata,
                        const std::vector<SyntheticTensor>& tensors);

// Writes the model; the same (plan, seed) always gives the same bytes.
void write_synthetic(const SyntheticPlan& plan, const std::filesystem::path& path, uint64_t seed);

}  // namespace kiln::gguf
