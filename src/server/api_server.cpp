#include "server/api_server.h"

#include "server/routes.h"

namespace kiln::server {

ApiServer::ApiServer(ServeOptions options)
    : state_(std::move(options.models_root), std::move(options.version)), http_(std::move(options.http)) {
  state_.log = http_.options().log;
  state_.registry = std::move(options.registry);
  options.pool.metrics = &state_.metrics;
  state_.models = std::make_shared<ModelPool>(state_.store, std::move(options.pool));

  // Every answered request counts under its route's pattern (never the raw
  // path, whose values a client chooses) and status.
  http_.router().set_observer([this](const std::string&, const std::string& route, int status) {
    state_.metrics
        .counter("kiln_http_requests_total", "HTTP requests answered, by route pattern and status",
                 {{"path", route.empty() ? "other" : route}, {"status", std::to_string(status)}})
        .inc();
  });

  Router& r = http_.router();
  add_management_routes(r, state_);
  add_generate_routes(r, state_);
  add_embed_routes(r, state_);
  add_openai_routes(r, state_);
  add_pull_routes(r, state_);
  add_metrics_routes(r, state_);
}

ApiServer::~ApiServer() { http_.stop(); }

}  // namespace kiln::server
