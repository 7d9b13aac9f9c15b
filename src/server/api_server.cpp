#include "server/api_server.h"

#include "server/routes.h"

namespace kiln::server {

ApiServer::ApiServer(ServeOptions options)
    : http_(std::move(options.http)), state_(std::move(options.models_root), std::move(options.version)) {
  state_.log = http_.options().log;
  add_management_routes(http_.router(), state_);
}

}  // namespace kiln::server
