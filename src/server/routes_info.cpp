// Liveness and version: what clients probe before anything else. The text of
// `/` is Ollama's, byte for byte, because tools check for it.
#include "server/routes.h"

namespace kiln::server {

void add_info_routes(Router& r, ApiState& state) {
  auto running = [](Call& c) {
    c.res.status = 200;
    c.res.set_content("Ollama is running", "text/plain; charset=utf-8");
  };
  r.add("GET", "/", BodyMode::None, running);
  r.add("HEAD", "/", BodyMode::None, running);

  auto version = [&state](Call& c) { c.json(200, nlohmann::ordered_json{{"version", state.version}}); };
  r.add("GET", "/api/version", BodyMode::None, version);
  r.add("HEAD", "/api/version", BodyMode::None, version);

  // Loaded models. Nothing is loaded until the engine serves generation, and
  // this answer says exactly that.
  r.add("GET", "/api/ps", BodyMode::None,
        [](Call& c) { c.json(200, nlohmann::ordered_json{{"models", nlohmann::ordered_json::array()}}); });
}

}  // namespace kiln::server
