#include "gguf/quant_mix.h"

#include <array>
#include <cctype>
#include <charconv>

#include "core/error.h"

namespace kiln::gguf {
namespace {

struct FileTypeEntry {
  FileType ft;
  std::string_view name;
  GgmlType default_type;
};

constexpr std::array kFileTypes = {
    FileTypeEntry{FileType::ALL_F32, "F32", GgmlType::F32},
    FileTypeEntry{FileType::MOSTLY_F16, "F16", GgmlType::F16},
    FileTypeEntry{FileType::MOSTLY_Q4_0, "Q4_0", GgmlType::Q4_0},
    FileTypeEntry{FileType::MOSTLY_Q4_1, "Q4_1", GgmlType::Q4_1},
    FileTypeEntry{FileType::MOSTLY_Q8_0, "Q8_0", GgmlType::Q8_0},
    FileTypeEntry{FileType::MOSTLY_Q5_0, "Q5_0", GgmlType::Q5_0},
    FileTypeEntry{FileType::MOSTLY_Q5_1, "Q5_1", GgmlType::Q5_1},
    FileTypeEntry{FileType::MOSTLY_Q4_K_S, "Q4_K_S", GgmlType::Q4_K},
    FileTypeEntry{FileType::MOSTLY_Q4_K_M, "Q4_K_M", GgmlType::Q4_K},
    FileTypeEntry{FileType::MOSTLY_Q5_K_S, "Q5_K_S", GgmlType::Q5_K},
    FileTypeEntry{FileType::MOSTLY_Q5_K_M, "Q5_K_M", GgmlType::Q5_K},
    FileTypeEntry{FileType::MOSTLY_Q6_K, "Q6_K", GgmlType::Q6_K},
    FileTypeEntry{FileType::MOSTLY_BF16, "BF16", GgmlType::BF16},
};

constexpr std::array kSupported = [] {
  std::array<FileType, kFileTypes.size()> out{};
  for (size_t i = 0; i < kFileTypes.size(); ++i) out[i] = kFileTypes[i].ft;
  return out;
}();

const FileTypeEntry& entry(FileType ft) {
  for (const auto& e : kFileTypes)
    if (e.ft == ft) return e;
  throw Error("unsupported file type " + std::to_string(static_cast<uint32_t>(ft)));
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every
// third layer in between, get the bigger type.
bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// The index llama.cpp's counters give layer i: i itself, or its rank among the
// layer numbers sorted as strings when the model was quantized in name order.
int visit_index(int i, const MixModel& m) {
  if (!m.name_ordered_layers || i < 0) return i;
  const std::string key = std::to_string(i);
  int rank = 0;
  for (int j = 0; j < m.n_layers; ++j)
    if (std::to_string(j) < key) ++rank;
  return rank;
}

// llama.cpp's fallback when the chosen type's block does not divide the row.
GgmlType fallback_for(GgmlType t, std::string_view name, int64_t row) {
  switch (t) {
    case GgmlType::TQ1_0:
    case GgmlType::TQ2_0: return GgmlType::Q4_0;
    case GgmlType::IQ2_XXS:
    case GgmlType::IQ2_XS:
    case GgmlType::IQ2_S:
    case GgmlType::IQ3_XXS:
    case GgmlType::IQ3_S:
    case GgmlType::IQ1_S:
    case GgmlType::IQ1_M:
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::IQ4_XS: return GgmlType::IQ4_NL;
    case GgmlType::Q4_K: return GgmlType::Q5_0;
    case GgmlType::Q5_K: return GgmlType::Q5_1;
    case GgmlType::Q6_K: return GgmlType::Q8_0;
    default:
      throw Error("tensor '" + std::string(name) + "': rows of " + std::to_string(row) +
                  " values cannot be stored as " + std::string(type_name(t)) +
                  " (block of " + std::to_string(traits(t).block_size) + ") and it has no fallback type");
  }
}

// The per-tensor choice for the quantized file types kiln supports.
GgmlType choose_quantized(FileType ft, const MixModel& m, std::string_view name, int64_t row) {
  const GgmlType dflt = entry(ft).default_type;
  const bool falcon = m.arch == "falcon";
  GgmlType t = dflt;

  if (name == "output.weight" || (!m.has_output && name == "token_embd.weight")) {
    // The output projection decides every token: it gets more bits.
    if (falcon || row % traits(dflt).block_size != 0) t = GgmlType::Q8_0;
    else if (dflt != GgmlType::Q8_0) t = GgmlType::Q6_K;
  } else if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") {
    // Embeddings are looked up, not multiplied: the default type is enough.
  } else if (contains(name, "attn_v.weight")) {
    const int i = visit_index(layer_of(name), m);
    if ((ft == FileType::MOSTLY_Q4_K_M || ft == FileType::MOSTLY_Q5_K_M) && use_more_bits(i, m.n_layers))
      t = GgmlType::Q6_K;
    else if (ft == FileType::MOSTLY_Q4_K_S && i < 4)
      t = GgmlType::Q5_K;
    if (m.is_70b && (t == GgmlType::Q3_K || t == GgmlType::Q4_K)) t = GgmlType::Q5_K;
  } else if (contains(name, "ffn_down")) {
    const int i = visit_index(layer_of(name), m);
    const int n = m.n_layers;
    if (ft == FileType::MOSTLY_Q4_K_M) {
      if (falcon)
        t = i < n / 16 ? GgmlType::Q6_K : use_more_bits(i, n) ? GgmlType::Q5_K : GgmlType::Q4_K;
      else if (use_more_bits(i, n))
        t = GgmlType::Q6_K;
    } else if (ft == FileType::MOSTLY_Q5_K_M && use_more_bits(i, n)) {
      t = GgmlType::Q6_K;
    } else if (ft == FileType::MOSTLY_Q4_K_S && !falcon && i < n / 8) {
      t = GgmlType::Q5_K;
    }
  } else if (contains(name, "attn_qkv.weight")) {
    if (ft == FileType::MOSTLY_Q4_K_M) t = GgmlType::Q5_K;
    else if (ft == FileType::MOSTLY_Q5_K_M) t = GgmlType::Q6_K;
  }

  if (row % traits(t).block_size != 0) {
    t = fallback_for(t, name, row);
    if (row % traits(t).block_size != 0) t = GgmlType::F16;
  }
  return t;
}

}  // namespace

std::optional<FileType> parse_file_type(std::string_view name) {
  for (const auto& e : kFileTypes)
    if (iequal(e.name, name)) return e.ft;
  return std::nullopt;
}

std::string_view file_type_name(FileType ft) { return entry(ft).name; }

std::span<const FileType> supported_file_types() { return kSupported; }

GgmlType default_tensor_type(FileType ft) { return entry(ft).default_type; }

int layer_of(std::string_view name) {
  constexpr std::string_view prefix = "blk.";
  if (!name.starts_with(prefix)) return -1;
  int layer = -1;
  const char* first = name.data() + prefix.size();
  const char* last = name.data() + name.size();
  auto [end, ec] = std::from_chars(first, last, layer);
  if (ec != std::errc{} || end == last || *end != '.') return -1;
  return layer;
}

bool is_quantizable(std::string_view name, size_t n_dims) {
  if (n_dims < 2 || !name.ends_with("weight")) return false;
  // Small or sensitive tensors llama-quantize leaves alone.
  for (std::string_view keep : {"_norm.weight", "ffn_gate_inp.weight", "altup", "laurel",
                                "per_layer_model_proj", "ssm_conv1d.weight", "shortconv.conv.weight",
                                "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
                                "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
                                "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
                                "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
                                "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
                                "time_mix_lerp_fused.weight", "attn_rel_b.weight"})
    if (contains(name, keep)) return false;
  return name != "position_embd.weight" && name != "token_types.weight";
}

GgmlType tensor_type_for(FileType ft, const MixModel& model, std::string_view name,
                         std::span<const int64_t> shape, GgmlType source_type) {
  if (!is_quantizable(name, shape.size())) return source_type;
  const GgmlType dflt = entry(ft).default_type;
  const int64_t row = shape.empty() ? 1 : shape[0];
  if (!traits(dflt).quantized) return dflt;  // F32 / F16 / BF16 files: no per-tensor rules
  return choose_quantized(ft, model, name, row);
}

}  // namespace kiln::gguf
