#pragma once
// `kiln serve` assembled: the HTTP server, the store it serves and every
// route. Tests start one in-process on an ephemeral port.
#include <filesystem>
#include <string>

#include "server/api_state.h"
#include "server/http_server.h"

namespace kiln::server {

struct ServeOptions {
  HttpOptions http;
  std::filesystem::path models_root;  // the store (KILN_MODELS)
  std::string version = "0.1.0";
};

class ApiServer {
 public:
  explicit ApiServer(ServeOptions options);

  HttpServer& http() { return http_; }
  ApiState& state() { return state_; }

 private:
  HttpServer http_;
  ApiState state_;
};

}  // namespace kiln::server
