#pragma once
// `kiln pull`: a model from a registry speaking Ollama's protocol, or a GGUF
// file from an http(s) URL. This is the API the CLI uses and the server's
// /api/pull will use: progress arrives as Ollama's api.ProgressResponse
// fields (status, digest, total, completed) and a stop_token cancels it.
//
// Registry pull, in Ollama's order and wording:
//   "pulling manifest"; for the layers then the config, "pulling <12 hex>"
//   with byte progress (stored blobs are skipped, reported complete;
//   partial downloads resume); "verifying sha256 digest"; "writing manifest"
//   (only after every blob is stored, so a failed pull leaves no model);
//   "removing unused layers" (when an older version's blobs became unused);
//   "success".
// URL pull (https://huggingface.co/<user>/<repo>/resolve/<rev>/<file>.gguf or
// any URL of a .gguf file): the file is downloaded (resumable), validated as
// GGUF and imported with create_model as `kiln create` would from a local
// file; by default it is named hf.co/<user>/<repo>:<quant> for Hugging Face
// URLs (the name Ollama gives the same file pulled as hf.co/...), else after
// the file.
#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

#include "store/model_store.h"
#include "store/pull_download.h"
#include "store/registry.h"

namespace kiln::store {

struct PullUpdate {
  std::string status;  // "pulling manifest", "pulling 6a0746a1ec1a", "success", ...
  std::string digest;  // "sha256:<hex>" while a blob is pulled, else empty
  uint64_t total = 0;      // bytes of that blob or file (0 while unknown)
  uint64_t completed = 0;  // bytes stored so far, resumed bytes included
};
using PullCallback = std::function<void(const PullUpdate&)>;

struct PullOptions {
  RegistryOptions registry;  // --insecure, KILN_REGISTRY
  DownloadOptions download;  // retries and the stop token
  std::string name;          // URL pulls: the name to store the model under ("" derives one)
  // Re-pulling a name whose blobs changed deletes the old blobs that no
  // model uses any more, as Ollama does unless OLLAMA_NOPRUNE is set (the CLI
  // reads KILN_NOPRUNE).
  bool prune = true;
};

// Pulls `what` (a model name or an http(s) URL of a .gguf file) into the
// store and returns the stored model. Throws kiln::Error: "pull model
// manifest: file does not exist" for a model the registry does not know,
// "network error: ...", "disk full: ..." / "not enough disk space ...",
// "digest mismatch ...", "pull cancelled", or a GGUF format error for a URL
// that is not a GGUF file.
StoredModel pull_model(ModelStore& store, std::string_view what, const PullOptions& options,
                       const PullCallback& progress);

// True for an http(s) URL whose path ends in ".gguf" (any case): pulled as a file.
bool is_gguf_url(std::string_view text);
// The default name of a model pulled from a GGUF URL.
ModelName name_for_gguf_url(const Url& url);

// Internal steps, public for the tests.
StoredModel pull_from_registry(ModelStore& store, const ModelName& name, const PullOptions& options,
                               const PullCallback& progress);
StoredModel pull_from_url(ModelStore& store, const Url& url, const PullOptions& options, const PullCallback& progress);

}  // namespace kiln::store
