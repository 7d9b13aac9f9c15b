#pragma once
// The JSON shapes of Ollama's model-management answers, built from the store:
// /api/tags entries, `details`, and /api/show's model_info (GGUF metadata as
// Ollama returns it).
#include <nlohmann/json.hpp>

#include "gguf/gguf.h"
#include "store/model_config.h"
#include "store/model_store.h"

namespace kiln::server {

// The config blob of a stored model; an unreadable or missing config gives
// empty fields (configs written by other tools vary).
store::ModelConfig read_config(const store::ModelStore& store, const store::StoredModel& model);

// api.ModelDetails: parent_model, format, family, families, parameter_size,
// quantization_level (families is null when empty, as Go writes a nil slice).
nlohmann::ordered_json model_details(const store::ModelConfig& config, const std::string& parent_model = {});

// One /api/tags entry: name, model, modified_at, size, digest (hex), details.
nlohmann::ordered_json list_entry(const store::ModelStore& store, const store::StoredModel& model);

// A metadata value as JSON: integers exact, f32 values by their shortest
// decimal form (as Go prints a float32), arrays longer than 5 items emptied
// unless `verbose` (Ollama's rule: tokenizer vocabularies are left out).
nlohmann::json gguf_value_json(const gguf::Value& v, bool verbose);

// /api/show's model_info: every metadata key but general.name and
// tokenizer.chat_template, plus general.parameter_count counted from the
// tensors. Keys sorted, as Go writes a map.
nlohmann::json model_info_json(const gguf::File& file, bool verbose);

// /api/show's tensors (verbose only): name, type, shape.
nlohmann::json tensors_json(const gguf::File& file);

}  // namespace kiln::server
