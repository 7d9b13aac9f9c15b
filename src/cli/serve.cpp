// `kiln serve`: the Ollama-compatible HTTP API on KILN_HOST (default
// 127.0.0.1:11434), serving the store at KILN_MODELS. KILN_ORIGINS adds
// allowed CORS origins. SIGINT or SIGTERM stops accepting connections and
// lets requests in flight finish before the process exits.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/commands.h"
#include "server/api_server.h"
#include "store/model_store.h"

namespace kiln::cli {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

void run_serve() {
  server::ServeOptions options;
  options.http.address = server::parse_listen_address(env("KILN_HOST"));
  options.http.origins = env("KILN_ORIGINS");
  options.http.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  options.models_root = store::ModelStore::default_root();

  // Signals are taken by one thread with sigwait, never by a handler that
  // could interrupt a connection thread: block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up mid-stream is not fatal

  server::ApiServer api(options);
  server::ListenAddress bound = options.http.address;
  bound.port = api.http().bind();  // KILN_HOST may ask for port 0: say which one was taken
  std::fprintf(stderr, "kiln: models in %s\n", options.models_root.c_str());
  std::fprintf(stderr, "kiln: Listening on %s (version %s)\n", bound.url().c_str(),
               api.state().version.c_str());

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "kiln: %s received, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    api.http().stop();
  });
  api.http().run();
  // run() may also end on its own (the socket failed): wake the waiter.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  std::fprintf(stderr, "kiln: stopped\n");
}

}  // namespace

void add_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Start the kiln server (Ollama-compatible API)");
  cmd->footer(
      "Environment:\n"
      "  KILN_HOST     address to listen on (default 127.0.0.1:11434; \"host\", \"host:port\", \":port\", \"http://host:port\")\n"
      "  KILN_ORIGINS  extra allowed CORS origins, comma-separated (\"*\" allows any)\n"
      "  KILN_MODELS   the model store (default ~/.kiln/models)");
  cmd->callback([] { run_serve(); });
}

}  // namespace kiln::cli
