#include <cstdio>

#include "cli/commands.h"

namespace kiln::cli {

void add_version(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print the kiln version");
  cmd->callback([] { std::printf("kiln version 0.1.0\n"); });
}

}  // namespace kiln::cli
