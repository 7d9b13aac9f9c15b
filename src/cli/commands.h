#pragma once
// Each `kiln` subcommand lives in its own file and adds itself to the app
// through one of these functions (called from main.cpp). A command reports
// failure by throwing kiln::Error; main prints "Error: <message>" and exits 1.
#include <CLI/CLI.hpp>

namespace kiln::cli {

void add_version(CLI::App& app);
void add_create(CLI::App& app);
void add_list(CLI::App& app);
void add_show(CLI::App& app);
void add_cp(CLI::App& app);
void add_rm(CLI::App& app);
void add_synth(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_pull(CLI::App& app);
void add_serve(CLI::App& app);
void add_run(CLI::App& app);
void add_bench(CLI::App& app);
void add_ps(CLI::App& app);
void add_stop(CLI::App& app);

}  // namespace kiln::cli
