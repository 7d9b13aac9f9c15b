// GET /metrics: every metric of the server in Prometheus' text format
// (version 0.0.4). Requests by route and status are counted by the router's
// observer (api_server.cpp); each loaded model's scheduler records its own
// tokens, latencies, queue depth and KV blocks under its "model" label; the
// model pool keeps kiln_models_loaded.
#include "server/routes.h"

namespace kiln::server {

inline constexpr const char* kPrometheusTextType = "text/plain; version=0.0.4; charset=utf-8";

void add_metrics_routes(Router& r, ApiState& state) {
  r.add("GET", "/metrics", BodyMode::None, [&state](Call& c) {
    c.res.status = 200;
    c.res.set_content(state.metrics.render(), kPrometheusTextType);
  });
}

}  // namespace kiln::server
