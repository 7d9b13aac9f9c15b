#pragma once
// Turning a model name from a request into a stored model, with Ollama's
// errors: 400 "invalid model name" when the text is not a name, 404
// "model 'x' not found" (x as the client wrote it) when nothing is stored
// under it. Names never reach the file system unvalidated.
#include <string>

#include "server/http_error.h"
#include "store/model_store.h"

namespace kiln::server {

inline store::ModelName parse_model_name(const std::string& text) {
  if (!store::ModelName::is_valid(text)) throw bad_request("invalid model name");
  return store::ModelName::parse(text);
}

// The stored name matching `text` (ignoring case).
inline store::ModelName find_model(const store::ModelStore& store, const std::string& text) {
  auto found = store.find(parse_model_name(text));
  if (!found) throw not_found("model '" + text + "' not found");
  return *found;
}

}  // namespace kiln::server
