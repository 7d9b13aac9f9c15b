// `kiln rm NAME...`: removes models, and the blobs no remaining model uses.
#include <cstdio>

#include "cli/commands.h"
#include "store/model_store.h"

namespace kiln::cli {

void add_rm(CLI::App& app) {
  auto names = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand("rm", "Remove models");
  cmd->add_option("names", *names, "Models to remove")->required();
  cmd->callback([names] {
    using namespace kiln::store;
    // Validate every name before deleting anything.
    std::vector<ModelName> parsed;
    for (const auto& n : *names) parsed.push_back(ModelName::parse(n));
    ModelStore store(ModelStore::default_root());
    for (size_t i = 0; i < parsed.size(); ++i) {
      store.remove(parsed[i]);
      std::printf("deleted '%s'\n", (*names)[i].c_str());
    }
  });
}

}  // namespace kiln::cli
