#pragma once
// Everything a stored model is made of, read back from its layers: the
// weights' path, template, system prompt, parameters, licenses and messages.
// `kiln show` prints it; the server uses it to load and describe a model.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/model_store.h"
#include "store/modelfile.h"

namespace kiln::store {

struct ModelView {
  std::string display_name;        // "gemma3:latest", or the GGUF path
  std::filesystem::path weights;   // the model blob (or the GGUF file itself)
  std::optional<StoredModel> stored;  // absent for a bare GGUF file
  std::string template_text;
  std::string system;
  nlohmann::json parameters = nlohmann::json::object();
  std::vector<std::string> licenses;
  std::vector<ChatMessage> messages;
};

// Reads the layers of a stored model; throws "model 'x' not found" or names
// the broken layer.
ModelView view_stored_model(const ModelStore& store, const ModelName& name);
// A GGUF file outside the store: its own chat template, nothing else.
ModelView view_gguf_file(const std::filesystem::path& path, const std::string& chat_template);

// The Modelfile that recreates the model (`kiln show --modelfile`).
std::string render_modelfile(const ModelView& view);

}  // namespace kiln::store
