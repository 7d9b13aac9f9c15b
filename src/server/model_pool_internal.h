#pragma once
// What model_pool.cpp (leasing, eviction, expiry) and model_pool_load.cpp
// (resolving names, sizing, loading) share. Not for other files.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "engine/engine.h"
#include "models/model_config.h"
#include "server/model_pool.h"

namespace kiln::server {

// A request for a model, resolved before any lock is taken: which stored
// model, how it would be loaded, and how much memory that would take.
struct ModelPool::Prepared {
  std::string key;  // the stored name's full form, lower case (names match ignoring case)
  store::ModelView view;
  std::string digest;  // "sha256:..."
  std::string arch;
  engine::Options runner;
  engine::EngineConfig engine;  // context clamped to what the model was trained for; backend set at load
  GpuRequest gpu = GpuRequest::kNone;
  uint64_t estimated_bytes = 0;
};

struct ModelPool::Entry {
  std::string key;
  std::shared_ptr<LoadedModel> model;  // null while it loads
  uint64_t bytes = 0;                  // the estimate while loading, then the model's size_bytes
  int leases = 0;
  // Takes no new leases and unloads as soon as the last one ends (a reload
  // for other runner options, `kiln stop`).
  bool draining = false;
  KeepAlive keep_alive;  // of the latest request
  std::optional<Clock::time_point> expires_at;  // set when the last lease ends; nullopt: forever / in use
  std::chrono::steady_clock::time_point last_used{};
};

// Bytes a model takes once loaded with `engine`: its file (mapped), the KV
// cache and the per-step buffers. See model_pool_load.cpp for what it leaves out.
uint64_t estimate_model_bytes(uint64_t file_bytes, const models::ModelConfig& mc, const engine::EngineConfig& engine);

}  // namespace kiln::server
