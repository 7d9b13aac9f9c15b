// `kiln create NAME [-f Modelfile] [-q q4_K_M]`: builds a model in the store
// (see store/create.h). Progress goes to stderr, worded as Ollama's.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "core/error.h"
#include "store/create.h"

namespace kiln::cli {
namespace {

struct CreateArgs {
  std::string name;
  std::string modelfile = "Modelfile";
  std::string quantize;
};

void run_create(const CreateArgs& args) {
  namespace fs = std::filesystem;
  using namespace kiln::store;
  const ModelName name = ModelName::parse(args.name);
  const fs::path modelfile_path = fs::absolute(args.modelfile);
  std::error_code ec;
  if (!fs::is_regular_file(modelfile_path, ec))
    throw Error("no Modelfile at " + modelfile_path.string() + " (give one with -f)");

  CreateRequest req{name, Modelfile::load(modelfile_path), modelfile_path.parent_path(), args.quantize};
  for (const auto& w : req.modelfile.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());

  // On a terminal, long steps redraw one line with a percentage.
  const bool tty = ::isatty(STDERR_FILENO);
  bool partial_line = false;
  CreateProgress progress;
  progress.status = [&](const std::string& line) {
    std::fprintf(stderr, "%s%s \n", partial_line ? "\r\033[K" : "", line.c_str());
    partial_line = false;
  };
  int last_percent = -1;
  if (tty) {
    progress.bytes = [&](std::string_view phase, uint64_t done, uint64_t total) {
      const int percent = total ? static_cast<int>(done * 100 / total) : 100;
      if (percent == last_percent) return;
      last_percent = percent;
      std::fprintf(stderr, "\r\033[K%.*s %d%%", static_cast<int>(phase.size()), phase.data(), percent);
      partial_line = true;
    };
  }
  ModelStore store(ModelStore::default_root());
  create_model(store, req, progress);
}

}  // namespace

void add_create(CLI::App& app) {
  auto args = std::make_shared<CreateArgs>();
  auto* cmd = app.add_subcommand("create", "Create a model from a Modelfile");
  cmd->add_option("name", args->name, "Model name, e.g. mymodel or user/mymodel:tag")->required();
  cmd->add_option("-f,--file", args->modelfile, "Path to the Modelfile (default: ./Modelfile)");
  cmd->add_option("-q,--quantize", args->quantize, "Quantize the F16/F32/BF16 model to this type (q4_K_M, q8_0, ...)");
  cmd->callback([args] { run_create(*args); });
}

}  // namespace kiln::cli
