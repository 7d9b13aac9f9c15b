// `kiln pull NAME | URL [--insecure] [--name NAME]`: fetches a model from a
// registry (Ollama's protocol; KILN_REGISTRY replaces the registry) or a GGUF
// file from an http(s) URL (see store/pull.h). Progress goes to stderr: bars
// on a terminal, plain lines otherwise. Ctrl-C stops the pull and keeps what
// was downloaded, so the next pull resumes.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stop_token>

#include "cli/commands.h"
#include "core/error.h"
#include "store/pull.h"
#include "store/pull_progress.h"

namespace kiln::cli {
namespace {

struct PullArgs {
  std::string what;
  bool insecure = false;
  std::string name;
  int retries = 3;
};

// SIGINT asks the pull to stop; the downloader notices within one chunk.
// request_stop() with no stop_callback registered is only atomic operations.
std::stop_source* g_interrupt = nullptr;
extern "C" void on_sigint(int) {
  if (g_interrupt) g_interrupt->request_stop();
}

void run_pull(const PullArgs& args) {
  using namespace kiln::store;
  PullOptions options;
  options.registry.insecure = args.insecure;
  options.registry.base_url = registry_from_env();
  options.name = args.name;
  options.download.retries = args.retries;
  options.prune = std::getenv("KILN_NOPRUNE") == nullptr;
  std::stop_source stop;
  options.download.stop = stop.get_token();
  g_interrupt = &stop;
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills at once
  struct sigaction old {};
  ::sigaction(SIGINT, &sa, &old);

  PullRenderer renderer([](std::string_view s) { std::fwrite(s.data(), 1, s.size(), stderr); },
                        ::isatty(STDERR_FILENO) != 0);
  try {
    ModelStore store(ModelStore::default_root());
    pull_model(store, args.what, options, [&](const PullUpdate& u) { renderer.update(u); });
    renderer.finish();
  } catch (...) {
    renderer.finish();
    ::sigaction(SIGINT, &old, nullptr);
    g_interrupt = nullptr;
    throw;
  }
  ::sigaction(SIGINT, &old, nullptr);
  g_interrupt = nullptr;
}

}  // namespace

void add_pull(CLI::App& app) {
  auto args = std::make_shared<PullArgs>();
  auto* cmd = app.add_subcommand("pull", "Pull a model from a registry, or a GGUF file from a URL");
  cmd->add_option("model", args->what,
                  "Model name (qwen2.5:0.5b, hf.co/<user>/<repo>:<quant>) or URL of a .gguf file")
      ->required();
  cmd->add_flag("--insecure", args->insecure, "Use http:// instead of https:// for the registry");
  cmd->add_option("-n,--name", args->name, "Store a URL pull under this name (default: from the URL)");
  cmd->add_option("--retries", args->retries, "Retries after a network failure, each resuming (default 3)")
      ->check(CLI::Range(0, 100));
  cmd->callback([args] { run_pull(*args); });
}

}  // namespace kiln::cli
