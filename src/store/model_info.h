#pragma once
// A model's summary computed from its GGUF: what `kiln show` prints, what the
// config blob records and what the server's /api/show returns. Everything is
// derived from the file itself (tensor element counts, tensor types,
// general.file_type), never from a size label someone typed.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "gguf/gguf.h"

namespace kiln::store {

struct TypeUsage {
  GgmlType type;
  size_t tensors = 0;
  uint64_t elements = 0;
  uint64_t bytes = 0;
};

struct ModelInfo {
  std::string architecture;  // general.architecture
  std::string name;          // general.name, may be empty
  uint64_t parameter_count = 0;  // sum of tensor element counts
  std::optional<int64_t> context_length;
  std::optional<int64_t> embedding_length;
  std::optional<int64_t> block_count;
  std::optional<uint32_t> file_type_id;  // general.file_type
  std::string file_type;                 // "Q4_K_M"; "unknown" without general.file_type
  std::vector<TypeUsage> quant_mix;      // tensor types, most bytes first
  uint64_t tensor_bytes = 0;
  std::string chat_template;             // tokenizer.chat_template, may be empty
  bool embedding_only = false;           // has <arch>.pooling_type: an embedding model
};

// Throws kiln::Error when the file lacks general.architecture or a summary
// key has the wrong type.
ModelInfo summarize(const gguf::File& file);

// llama.cpp's name of a general.file_type value ("Q4_K_M", "F16", ...), or
// "unknown (<id>)" for an id it never assigned.
std::string file_type_label(uint32_t id);

// Ollama's capabilities: "completion" (or "embedding"), "tools" and "insert"
// when the chat template uses tools or a suffix.
std::vector<std::string> capabilities(const ModelInfo& info, const std::string& chat_template);

}  // namespace kiln::store
