#pragma once
// `kiln create`: builds a model in the store from a Modelfile, as Ollama's
// create does. FROM names a GGUF file (validated, then stored as the model
// layer) or a stored model (whose layers are inherited); TEMPLATE, SYSTEM,
// PARAMETER, LICENSE and MESSAGE add or replace layers; a config blob records
// family, size and file type; the manifest is written last, so a failed create
// leaves no model behind (at most unreferenced blobs).
#include <filesystem>
#include <functional>
#include <string>

#include "store/blob_store.h"
#include "store/model_store.h"
#include "store/modelfile.h"
#include "store/name.h"

namespace kiln::store {

struct CreateRequest {
  ModelName name;
  Modelfile modelfile;
  std::filesystem::path base_dir;  // where a relative FROM path starts (the Modelfile's folder)
  std::string quantize;            // "", or a file type: "q4_K_M", "q8_0"
};

struct CreateProgress {
  // One line per step, worded as Ollama's: "gathering model components",
  // "copying file sha256:... 100%", "using existing layer sha256:...",
  // "writing manifest", "success".
  std::function<void(const std::string&)> status;
  // Byte progress of long steps (hashing, copying, quantizing).
  ByteProgress bytes;
};

// Throws kiln::Error (a malformed GGUF throws gguf::FormatError) naming what
// is wrong.
StoredModel create_model(ModelStore& store, const CreateRequest& request, const CreateProgress& progress);

// FROM resolution: absolute, "~/..." or relative to base_dir.
std::filesystem::path expand_from_path(const std::string& from, const std::filesystem::path& base_dir);

}  // namespace kiln::store
