#pragma once
// Ollama's registry protocol (the Docker registry v2 API subset it uses):
//   GET <base>/v2/<namespace>/<model>/manifests/<tag>
//       Accept: application/vnd.docker.distribution.manifest.v2+json
//   GET <base>/v2/<namespace>/<model>/blobs/<digest>   (usually a redirect to storage)
// <base> is https://<host of the name>, http:// with --insecure (as Ollama),
// or KILN_REGISTRY, which replaces the registry for every name (a mirror, or
// the fake registry of the tests). hf.co/<user>/<repo>:<quant> names go
// through the same protocol: Hugging Face serves it for GGUF repositories.
#include <optional>
#include <stop_token>
#include <string>

#include "store/manifest.h"
#include "store/name.h"
#include "store/registry_http.h"

namespace kiln::store {

struct RegistryOptions {
  bool insecure = false;  // http:// instead of https:// for the name's host
  std::string base_url;   // replaces the name's registry when not empty
};

// $KILN_REGISTRY, else empty.
std::string registry_from_env();

class Registry {
 public:
  Registry(const ModelName& name, const RegistryOptions& options);

  const Url& base() const { return base_; }
  Url manifest_url() const;
  Url blob_url(const Digest& digest) const;
  // Headers for a request to the registry (Authorization once a token was obtained).
  HttpHeaders headers() const;

  // Fetches and validates the manifest. Throws kiln::Error worded as Ollama's:
  // "pull model manifest: file does not exist" for an unknown model or tag,
  // "pull model manifest: <why>" for a network failure, an error status or
  // malformed JSON.
  Manifest fetch_manifest(std::stop_token stop = {});

  // After a 401 from the registry: asks the token service named by its
  // WWW-Authenticate challenge (Docker's anonymous bearer-token flow) and
  // returns true when a token was obtained, so the request can be repeated.
  bool authenticate(const HttpResponse& unauthorized, std::stop_token stop = {});

 private:
  ModelName name_;
  Url base_;
  std::optional<std::string> token_;
};

// The message of a registry error answer: the "message" of a Docker-style
// {"errors":[{"code":..,"message":..}]} body, else the status line.
std::string registry_error_text(const HttpResponse& response);

}  // namespace kiln::store
