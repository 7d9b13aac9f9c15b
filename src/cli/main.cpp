#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"kiln: run large language models locally"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kiln 0.1.0");
  kiln::cli::add_version(app);
  kiln::cli::add_create(app);
  kiln::cli::add_list(app);
  kiln::cli::add_show(app);
  kiln::cli::add_cp(app);
  kiln::cli::add_rm(app);
  kiln::cli::add_synth(app);
  kiln::cli::add_tokenize(app);
  kiln::cli::add_pull(app);
  kiln::cli::add_serve(app);
  kiln::cli::add_run(app);
  kiln::cli::add_bench(app);
  kiln::cli::add_ps(app);
  kiln::cli::add_stop(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "Error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "Error: internal: %s\n", e.what());
    return 2;
  }
  return 0;
}
