#include "gguf/synthetic.h"

#include <cstring>

#include "core/error.h"
#include "gguf/synthetic_fill.h"
#include "gguf/synthetic_vocab.h"

namespace kiln::gguf {
namespace {

constexpr uint64_t kAlignment = 32;  // the Writer's default; synthetic files do not set general.alignment

uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

// Bytes a metadata value takes after its type tag.
uint64_t value_bytes(const Value& v) {
  switch (v.type()) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::BOOL: return 1;
    case ValueType::U16:
    case ValueType::I16: return 2;
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::F32: return 4;
    case ValueType::U64:
    case ValueType::I64:
    case ValueType::F64: return 8;
    case ValueType::STRING: return 8 + v.as_string().size();
    case ValueType::ARRAY: {
      uint64_t n = 4 + 8;  // element type, count
      for (const Value& item : v.as_array()) n += value_bytes(item);
      return n;
    }
  }
  throw Error("metadata value of unknown type");
}

// Converted models keep norms, biases and rope factors in F32; weight
// matrices come from F16 (what llama-quantize starts from).
GgmlType source_type(const TensorSpec& t) { return t.shape.size() >= 2 ? GgmlType::F16 : GgmlType::F32; }

}  // namespace

uint64_t SyntheticPlan::tensor_bytes() const {
  uint64_t n = 0;
  for (const auto& t : tensors) n += t.nbytes;
  return n;
}

SyntheticPlan plan_synthetic(const Preset& preset, FileType file_type, int64_t n_layers) {
  SyntheticPlan plan;
  plan.preset = &preset;
  plan.file_type = file_type;
  plan.n_layers = n_layers == 0 ? preset.n_layer : n_layers;
  const MixModel model{.arch = std::string(preset.arch),
                       .n_layers = static_cast<int>(plan.n_layers),
                       .has_output = preset.has_output,
                       .is_70b = false,
                       .name_ordered_layers = preset.name_ordered_quant};
  for (auto& spec : preset_tensors(preset, n_layers)) {
    GgmlType type = source_type(spec);
    if (file_type == FileType::ALL_F32) type = GgmlType::F32;
    else type = tensor_type_for(file_type, model, spec.name, spec.shape, type);
    int64_t rows = 1;
    for (size_t d = 1; d < spec.shape.size(); ++d) rows *= spec.shape[d];
    const uint64_t nbytes = row_bytes(type, spec.shape[0]) * static_cast<uint64_t>(rows);
    plan.tensors.push_back({std::move(spec.name), std::move(spec.shape), type, nbytes});
  }
  return plan;
}

std::vector<std::pair<std::string, Value>> synthetic_metadata(const SyntheticPlan& plan) {
  if (!plan.preset) throw Error("synthetic model plan has no preset");
  auto kv = preset_metadata(*plan.preset, plan.n_layers);
  kv.emplace_back("general.file_type", Value::u32(static_cast<uint32_t>(plan.file_type)));
  for (auto& entry : synthetic_tokenizer_metadata(*plan.preset)) kv.push_back(std::move(entry));
  return kv;
}

uint64_t gguf_file_size(const std::vector<std::pair<std::string, Value>>& metadata,
                        const std::vector<SyntheticTensor>& tensors) {
  uint64_t header = 4 + 4 + 8 + 8;  // magic, version, tensor count, kv count
  for (const auto& [key, value] : metadata) header += 8 + key.size() + 4 + value_bytes(value);
  uint64_t data = 0;
  for (const auto& t : tensors) {
    header += 8 + t.name.size() + 4 + 8 * t.shape.size() + 4 + 8;
    data += align_up(t.nbytes, kAlignment);
  }
  return align_up(header, kAlignment) + data;
}

void write_synthetic(const SyntheticPlan& plan, const std::filesystem::path& path, uint64_t seed) {
  Writer writer;
  for (auto& [key, value] : synthetic_metadata(plan)) writer.set(std::move(key), std::move(value));
  for (const auto& t : plan.tensors) {
    if (t.name == "rope_freqs.weight") {
      // Real values: llama.cpp divides RoPE frequencies by them.
      const std::vector<float> factors = llama3_rope_factors(*plan.preset);
      std::vector<uint8_t> bytes(factors.size() * sizeof(float));
      std::memcpy(bytes.data(), factors.data(), bytes.size());
      writer.add_tensor(t.name, t.type, t.shape, bytes);
      continue;
    }
    writer.add_tensor(t.name, t.type, t.shape, make_random_fill(t.type, fill_kind_for(t.name), tensor_seed(seed, t.name)));
  }
  writer.write(path);
}

}  // namespace kiln::gguf
