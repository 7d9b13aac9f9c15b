#include "store/model_info.h"

#include <algorithm>
#include <map>

#include "core/error.h"

namespace kiln::store {
namespace {

std::optional<int64_t> optional_int(const gguf::File& f, const std::string& key) {
  const gguf::Value* v = f.find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer()) throw Error(f.name() + ": " + key + " must be an integer");
  return v->as_int();
}

}  // namespace

std::string file_type_label(uint32_t id) {
  // llama.cpp's llama_ftype (include/llama.h); gaps are retired ids.
  static const std::map<uint32_t, const char*> kNames = {
      {0, "F32"},      {1, "F16"},      {2, "Q4_0"},     {3, "Q4_1"},     {7, "Q8_0"},
      {8, "Q5_0"},     {9, "Q5_1"},     {10, "Q2_K"},    {11, "Q3_K_S"},  {12, "Q3_K_M"},
      {13, "Q3_K_L"},  {14, "Q4_K_S"},  {15, "Q4_K_M"},  {16, "Q5_K_S"},  {17, "Q5_K_M"},
      {18, "Q6_K"},    {19, "IQ2_XXS"}, {20, "IQ2_XS"},  {21, "Q2_K_S"},  {22, "IQ3_XS"},
      {23, "IQ3_XXS"}, {24, "IQ1_S"},   {25, "IQ4_NL"},  {26, "IQ3_S"},   {27, "IQ3_M"},
      {28, "IQ2_S"},   {29, "IQ2_M"},   {30, "IQ4_XS"},  {31, "IQ1_M"},   {32, "BF16"},
      {36, "TQ1_0"},   {37, "TQ2_0"},   {38, "MXFP4_MOE"},
  };
  auto it = kNames.find(id);
  return it != kNames.end() ? it->second : "unknown (" + std::to_string(id) + ")";
}

ModelInfo summarize(const gguf::File& f) {
  ModelInfo info;
  info.architecture = f.architecture();
  info.name = f.get_string("general.name");
  info.context_length = optional_int(f, f.arch_key("context_length"));
  info.embedding_length = optional_int(f, f.arch_key("embedding_length"));
  info.block_count = optional_int(f, f.arch_key("block_count"));
  info.embedding_only = f.find(f.arch_key("pooling_type")) != nullptr;
  if (auto ft = optional_int(f, "general.file_type")) {
    if (*ft < 0 || *ft > UINT32_MAX) throw Error(f.name() + ": general.file_type " + std::to_string(*ft) + " is out of range");
    info.file_type_id = static_cast<uint32_t>(*ft);
    info.file_type = file_type_label(*info.file_type_id);
  } else {
    info.file_type = "unknown";
  }
  info.chat_template = f.get_string("tokenizer.chat_template");

  std::map<uint32_t, TypeUsage> by_type;
  for (const auto& t : f.tensors()) {
    const uint64_t n = static_cast<uint64_t>(t.nelements());
    info.parameter_count += n;
    info.tensor_bytes += t.nbytes;
    auto& u = by_type.try_emplace(static_cast<uint32_t>(t.type), TypeUsage{t.type}).first->second;
    u.tensors++;
    u.elements += n;
    u.bytes += t.nbytes;
  }
  for (auto& [id, u] : by_type) info.quant_mix.push_back(u);
  std::stable_sort(info.quant_mix.begin(), info.quant_mix.end(),
                   [](const TypeUsage& a, const TypeUsage& b) { return a.bytes > b.bytes; });
  return info;
}

std::vector<std::string> capabilities(const ModelInfo& info, const std::string& chat_template) {
  std::vector<std::string> caps;
  caps.push_back(info.embedding_only ? "embedding" : "completion");
  if (info.embedding_only) return caps;
  if (chat_template.find("tools") != std::string::npos) caps.push_back("tools");
  if (chat_template.find("suffix") != std::string::npos) caps.push_back("insert");
  return caps;
}

}  // namespace kiln::store
