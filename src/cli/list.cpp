// `kiln list` (alias `ls`): the models in the store, newest first, in
// Ollama's columns: NAME, ID (12 hex of the manifest digest), SIZE, MODIFIED.
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "store/humanize.h"
#include "store/model_store.h"

namespace kiln::cli {
namespace {

void run_list() {
  using namespace kiln::store;
  ModelStore store(ModelStore::default_root());
  std::vector<std::vector<std::string>> rows = {{"NAME", "ID", "SIZE", "MODIFIED"}};
  const auto now = std::filesystem::file_time_type::clock::now();
  for (const auto& m : store.list()) {
    const double age = std::chrono::duration<double>(now - m.modified).count();
    rows.push_back({m.name.display(), m.digest.short_id(), human_bytes(m.size), human_time_ago(age)});
  }
  std::fputs(columns(rows).c_str(), stdout);
}

}  // namespace

void add_list(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "List models");
  cmd->alias("ls");
  cmd->callback(run_list);
}

}  // namespace kiln::cli
