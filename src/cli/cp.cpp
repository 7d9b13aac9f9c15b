// `kiln cp SRC DST`: a second name for a model (the manifest is copied, the
// blobs are shared).
#include <cstdio>

#include "cli/commands.h"
#include "store/model_store.h"

namespace kiln::cli {

void add_cp(CLI::App& app) {
  auto names = std::make_shared<std::pair<std::string, std::string>>();
  auto* cmd = app.add_subcommand("cp", "Copy a model");
  cmd->add_option("source", names->first, "Existing model")->required();
  cmd->add_option("destination", names->second, "New name")->required();
  cmd->callback([names] {
    using namespace kiln::store;
    const ModelName src = ModelName::parse(names->first);
    const ModelName dst = ModelName::parse(names->second);
    ModelStore store(ModelStore::default_root());
    store.copy(src, dst);
    std::printf("copied '%s' to '%s'\n", names->first.c_str(), names->second.c_str());
  });
}

}  // namespace kiln::cli
