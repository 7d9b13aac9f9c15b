#pragma once
// `kiln serve` assembled: the HTTP server, the store it serves, the pool of
// loaded models and every route. Tests start one in-process on an ephemeral
// port.
#include <filesystem>
#include <string>

#include "server/api_state.h"
#include "server/http_server.h"
#include "server/model_pool.h"

namespace kiln::server {

struct ServeOptions {
  HttpOptions http;
  std::filesystem::path models_root;  // the store (KILN_MODELS)
  std::string version = "0.1.0";
  PoolConfig pool;                    // KILN_NUM_PARALLEL, KILN_MAX_LOADED_MODELS, ... (metrics: set by ApiServer)
  std::string registry;               // KILN_REGISTRY for /api/pull ("": the name's registry)
};

class ApiServer {
 public:
  explicit ApiServer(ServeOptions options);
  // Stops serving first: requests in flight end (and return their leases)
  // before the models they use are unloaded.
  ~ApiServer();

  HttpServer& http() { return http_; }
  ApiState& state() { return state_; }
  ModelPool& models() { return *state_.models; }

 private:
  ApiState state_;  // outlives http_: handlers still running use it
  HttpServer http_;
};

}  // namespace kiln::server
