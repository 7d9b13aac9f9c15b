#pragma once
// POST /api/create's JSON (Ollama's current form) turned into the store's
// CreateRequest, with every field checked before any work starts:
//   {model, from | files {name: digest}, template, system, parameters,
//    license, messages, quantize, stream}
// `from` names a stored model; `files` names uploaded blobs (one GGUF file).
// Client mistakes throw HttpError: 400 for malformed fields, invalid names,
// unknown parameters, paths that are not relative, blobs that were never
// uploaded or are not GGUF; 404 for an unknown `from` model.
#include "server/json_body.h"
#include "store/create.h"
#include "store/model_store.h"

namespace kiln::server {

struct PreparedCreate {
  store::CreateRequest request;
  bool stream = true;
};

PreparedCreate prepare_create(const JsonBody& body, const store::ModelStore& store);

// Ollama's fs.ValidPath: relative, slash-separated, no "." or ".." element,
// no empty element.
bool is_valid_file_name(std::string_view name);

}  // namespace kiln::server
