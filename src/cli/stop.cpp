// `kiln stop MODEL`: asks the server at KILN_HOST to unload a model, as
// `ollama stop` does: POST /api/generate {"model": M, "keep_alive": 0} with no
// prompt. The server unloads it once its running requests end.
#include "cli/commands.h"
#include "client/api_client.h"
#include "core/error.h"

namespace kiln::cli {
namespace {

void run_stop(const std::string& model) {
  client::ApiClient api = client::ApiClient::from_env();
  try {
    api.post("/api/generate", {{"model", model}, {"keep_alive", 0}});
  } catch (const client::Unreachable& e) {
    throw Error(e.what());
  } catch (const Error& e) {
    if (std::string(e.what()).find("not found") != std::string::npos)
      throw Error("couldn't find model \"" + model + "\" to stop");
    throw;
  }
}

}  // namespace

void add_stop(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("stop", "Stop a running model (unload it from the server at KILN_HOST)");
  cmd->add_option("model", *model, "Model name")->required();
  cmd->callback([model] { run_stop(*model); });
}

}  // namespace kiln::cli
