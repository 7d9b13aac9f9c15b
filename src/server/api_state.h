#pragma once
// What the API handlers share: the model store, the lock that orders store
// writes, the version the server reports, the metrics and the loaded models.
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/metrics.h"
#include "store/model_store.h"

namespace kiln::server {

class ModelPool;

struct ApiState {
  explicit ApiState(std::filesystem::path models_root, std::string version_text)
      : store(std::move(models_root)), version(std::move(version_text)) {}

  store::ModelStore store;
  // Store writes (create, copy, delete, blob adoption) run one at a time, so
  // a delete can never drop a blob that a concurrent create has just decided
  // to reuse. Readers take no lock: manifests and blobs are replaced by
  // rename, so a reader sees the old or the new file, never half of one.
  std::mutex write_mutex;
  std::string version;
  // Counters and histograms for GET /metrics (requests, tokens, latencies,
  // queue depth, KV blocks, prefix-cache hits).
  metrics::Registry metrics;
  // The loaded models (generation routes lease from it). Set by ApiServer.
  std::shared_ptr<ModelPool> models;
  // The registry /api/pull fetches from instead of the one a name says
  // (KILN_REGISTRY; empty: the name's own, registry.ollama.ai by default).
  std::string registry;
  // Error lines for failures that are not the client's (null: silent).
  std::function<void(const std::string&)> log;
};

}  // namespace kiln::server
