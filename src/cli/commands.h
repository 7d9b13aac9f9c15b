#pragma once
// Each `kiln` subcommand lives in its own file and adds itself to the app
// through one of these functions (called from main.cpp). A command reports
// failure by throwing kiln::Error; main prints "Error: <message>" and exits 1.
#include <CLI/CLI.hpp>

namespace kiln::cli {

void add_version(CLI::App& app);

}  // namespace kiln::cli
