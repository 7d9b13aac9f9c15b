// `kiln serve`: the Ollama-compatible HTTP API on KILN_HOST (default
// 127.0.0.1:11434), serving the store at KILN_MODELS. KILN_ORIGINS adds
// allowed CORS origins. SIGINT or SIGTERM stops accepting connections and
// lets requests in flight finish before the process exits. KILN_NUM_PARALLEL,
// KILN_MAX_LOADED_MODELS, KILN_MAX_QUEUE, KILN_KEEP_ALIVE and KILN_MAX_MEMORY
// shape the model pool (server/model_pool.h).
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "backend/registry.h"
#include "cli/commands.h"
#include "core/error.h"
#include "kv/kv_types.h"
#include "server/api_server.h"
#include "server/http_error.h"
#include "store/model_store.h"
#include "store/registry.h"

namespace kiln::cli {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A positive whole number from the environment, or `fallback` when unset.
int64_t env_count(const char* name, int64_t fallback, int64_t max) {
  const std::string v = env(name);
  if (v.empty()) return fallback;
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (end == v.c_str() || *end != '\0' || n < 1 || n > max)
    throw Error(std::string(name) + "=" + v + ": expected a whole number from 1 to " + std::to_string(max));
  return n;
}

// KILN_KEEP_ALIVE: a Go duration ("5m", "1h", "-1m") or whole seconds ("300"), as OLLAMA_KEEP_ALIVE.
server::KeepAlive env_keep_alive() {
  const std::string v = env("KILN_KEEP_ALIVE");
  server::KeepAlive k;
  if (v.empty()) return k;
  try {
    const bool number = v.find_first_not_of("-0123456789") == std::string::npos;
    k = *server::parse_keep_alive(number ? nlohmann::json(std::stoll(v)) : nlohmann::json(v));
  } catch (const std::exception& e) {
    throw Error("KILN_KEEP_ALIVE=" + v + ": " + e.what());
  }
  return k;
}

server::PoolConfig pool_config() {
  server::PoolConfig c;
  c.num_parallel = int(env_count("KILN_NUM_PARALLEL", c.num_parallel, 256));
  c.max_loaded = int(env_count("KILN_MAX_LOADED_MODELS", c.max_loaded, 64));
  c.max_queue = size_t(env_count("KILN_MAX_QUEUE", int64_t(c.max_queue), 1 << 20));
  c.memory_budget_bytes = uint64_t(env_count("KILN_MAX_MEMORY", 0 + int64_t(server::default_memory_budget()),
                                             int64_t(1) << 62));
  c.default_keep_alive = env_keep_alive();
  if (const std::string b = env("KILN_BACKEND"); !b.empty()) {
    const auto known = backend::available_backends();
    if (std::find(known.begin(), known.end(), b) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw Error("KILN_BACKEND=" + b + ": not available here (this build and machine have: " + list + ")");
    }
    c.backend = b;
  }
  if (const std::string n = env("KILN_NUM_GPU"); !n.empty()) {
    char* end = nullptr;
    const long long v = std::strtoll(n.c_str(), &end, 10);
    if (end == n.c_str() || *end != '\0' || v < -1 || v > (1 << 20))
      throw Error("KILN_NUM_GPU=" + n + ": expected -1 (GPU when the model fits), 0 (CPU) or a layer count");
    c.num_gpu = int(v);
  }
  c.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  if (const std::string t = env("KILN_KV_CACHE_TYPE"); !t.empty()) {
    if (t == "f16") c.kv_type = kv::KvType::F16;
    else if (t == "q8_0") c.kv_type = kv::KvType::Q8_0;
    else throw Error("KILN_KV_CACHE_TYPE=" + t + ": expected f16 or q8_0");
  }
  c.kv_dir = env("KILN_KV_DIR");
  if (!c.kv_dir.empty())
    c.kv_disk_bytes = uint64_t(env_count("KILN_KV_DISK_BYTES", int64_t(16) << 30, int64_t(1) << 50));
  return c;
}

void run_serve() {
  server::ServeOptions options;
  options.http.address = server::parse_listen_address(env("KILN_HOST"));
  options.http.origins = env("KILN_ORIGINS");
  options.http.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  options.models_root = store::ModelStore::default_root();
  options.pool = pool_config();
  options.registry = store::registry_from_env();

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
      "  KILN_MODELS   the model store (default ~/.kiln/models)\n"
      "  KILN_NUM_PARALLEL       requests each model runs at once (default 4)\n"
      "  KILN_MAX_LOADED_MODELS  models loaded at once (default 3)\n"
      "  KILN_MAX_QUEUE          requests waiting per model before 503 (default 512)\n"
      "  KILN_KEEP_ALIVE         how long an idle model stays loaded (default 5m; 0 unloads at once, -1m never)\n"
      "  KILN_MAX_MEMORY         bytes the loaded models may take (default 3/4 of physical memory)\n"
      "  KILN_REGISTRY           registry for /api/pull instead of the one a name says\n"
      "  KILN_BACKEND            compute backend: cpu or cuda (default: the GPU when one is visible and the model fits)\n"
      "  KILN_NUM_GPU            num_gpu for requests without one: -1 (default, GPU when it fits), 0 (CPU), >= layers (GPU)\n"
      "  KILN_KV_CACHE_TYPE      KV cache element type: f16 (default) or q8_0\n"
      "  KILN_KV_DIR             directory of the KV disk tier: prompt prefixes kept across restarts (default: none)\n"
      "  KILN_KV_DISK_BYTES      the disk tier's budget per model (default 16 GiB)");
  cmd->callback([] { run_serve(); });
}

}  // namespace kiln::cli
