#pragma once
// The models `kiln serve` has loaded: each one a Scheduler (engine + KV cache
// + batching thread) plus what the store says about it (template, system
// prompt, parameters). Requests lease a model; the pool loads it on first use,
// keeps it for keep_alive after the last lease ends (Ollama: default 5m, 0
// unloads as soon as it is idle, negative keeps it forever), and unloads the
// least recently used idle models when a new one would exceed the memory
// budget or the model count. /api/ps reads ps().
//
// Runner options (num_ctx, num_batch, num_thread) fix how a model is loaded:
// a request whose num_ctx fits the loaded context is served by it without a
// reload (its sequences are limited to its own num_ctx); a larger num_ctx or a
// different num_batch/num_thread reloads the model once it is idle (requests
// wait for that).
#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/options.h"
#include "engine/scheduler.h"
#include "engine/thinking.h"
#include "kv/kv_types.h"
#include "server/placement.h"
#include "store/model_store.h"
#include "store/model_view.h"

namespace kiln::tmpl {
class ChatTemplate;
}
namespace kiln::metrics {
class Registry;
class Gauge;
}

namespace kiln::server {

using Clock = std::chrono::system_clock;

// Ollama's keep_alive: a duration string ("5m", "1h30m", "300ms", "-1m") or a
// number of seconds; negative = forever, 0 = unload when idle.
struct KeepAlive {
  std::chrono::nanoseconds duration{std::chrono::minutes(5)};
  bool forever() const { return duration.count() < 0; }
};
// Parses a request's keep_alive value (null: nullopt = the server default).
// Throws HttpError 400 for anything else ("time: invalid duration ...").
std::optional<KeepAlive> parse_keep_alive(const nlohmann::json& value);
// Go's time.ParseDuration ("1h30m", "1.5s", "-2m", "0"); throws HttpError 400
// with Go's message. Also what KILN_KEEP_ALIVE and `kiln run --keepalive` use.
std::chrono::nanoseconds parse_go_duration(std::string_view text);

// One loaded model. Everything but `scheduler`'s internals is immutable after
// load, so handlers read it without locks while they hold a lease.
struct LoadedModel {
  std::string name;           // canonical display name, "gemma3:270m"
  std::string digest;         // manifest digest "sha256:..." (Ollama's model digest)
  store::ModelView view;      // template, system, parameters, messages
  engine::Options runner;     // the runner options it was loaded with
  std::unique_ptr<tmpl::ChatTemplate> chat_template;  // null: the model has none (plain text prompts)
  std::optional<engine::ThinkingTags> thinking;       // the template's thinking tags, if any
  std::unique_ptr<engine::Scheduler> scheduler;
  uint64_t size_bytes = 0;     // weights + KV cache + per-step memory (an estimate: model_pool_load.cpp)
  std::string backend;         // where it runs: "cpu", "cuda" (server/placement.h)
  uint64_t size_vram = 0;      // of size_bytes, what lives in device memory
  int context_length = 0;      // tokens per sequence it was loaded for
  nlohmann::ordered_json details;  // as /api/tags' details (for /api/ps)
};

struct PsEntry {
  std::string name;
  std::string digest;
  uint64_t size_bytes = 0;
  uint64_t size_vram = 0;
  int context_length = 0;
  // When it unloads if no request comes; while a request runs, now +
  // keep_alive (Ollama's expiry is also set when a request starts). nullopt:
  // kept forever.
  std::optional<Clock::time_point> expires_at;
  nlohmann::ordered_json details;               // as /api/tags' details
};

struct PoolConfig {
  uint64_t memory_budget_bytes = 0;  // 0: 3/4 of physical memory (KILN_MAX_MEMORY)
  int max_loaded = 3;                // KILN_MAX_LOADED_MODELS
  int num_parallel = 4;              // KILN_NUM_PARALLEL: sequences per model
  size_t max_queue = 512;            // KILN_MAX_QUEUE: waiting requests per model
  KeepAlive default_keep_alive;      // KILN_KEEP_ALIVE
  std::string backend;                // KILN_BACKEND; empty: the GPU when one is visible and the model fits
  int num_gpu = -1;                   // KILN_NUM_GPU: num_gpu for requests that do not set it
  // How placement reads the GPU's free memory (tests substitute their own).
  DeviceMemoryQuery device_memory = backend::device_memory;
  // Called with a line for the server log (placement decisions); may be empty.
  std::function<void(const std::string&)> log;
  kv::KvType kv_type = kv::KvType::F16;  // KILN_KV_CACHE_TYPE (f16 | q8_0), as OLLAMA_KV_CACHE_TYPE
  std::string kv_dir;                 // KILN_KV_DIR: the KV disk tier (docs/kv-tiers.md); empty: none
  uint64_t kv_disk_bytes = 0;         // KILN_KV_DISK_BYTES: its budget per model
  metrics::Registry* metrics = nullptr;
  // How long acquire() waits for memory or a model slot held by running
  // requests (or for a reload) before answering 503 "server busy".
  std::chrono::milliseconds max_wait{std::chrono::minutes(5)};
};

// 3/4 of the machine's physical memory: the default memory budget.
uint64_t default_memory_budget();

class ModelPool {
 public:
  ModelPool(store::ModelStore& store, PoolConfig config);
  ~ModelPool();  // unloads everything
  ModelPool(const ModelPool&) = delete;
  ModelPool& operator=(const ModelPool&) = delete;

  // Keeps a model loaded while it lives. Ending a lease sets the model's
  // expiry from the lease's keep_alive.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&&) noexcept;
    Lease& operator=(Lease&&) noexcept;
    ~Lease();
    LoadedModel& operator*() const { return *model_; }
    LoadedModel* operator->() const { return model_.get(); }
    int64_t load_ns() const { return load_ns_; }  // time this acquire spent loading (0: was loaded)

   private:
    friend class ModelPool;
    ModelPool* pool_ = nullptr;
    std::shared_ptr<LoadedModel> model_;
    std::optional<KeepAlive> keep_alive_;
    int64_t load_ns_ = 0;
  };

  // The named stored model, loaded for these runner options. Throws HttpError
  // 404 ("model 'x' not found") for an unknown name, 400 for options out of
  // range, 500 when the model alone is larger than the memory budget or its
  // file cannot be loaded, 503 "server busy: ..." when running requests hold
  // the memory (or the model slots) for longer than max_wait. Blocks while
  // the model loads.
  Lease acquire(const std::string& name, const engine::Options& runner, std::optional<KeepAlive> keep_alive);
  // Unloads a model as soon as no lease holds it (keep_alive 0 with an empty
  // prompt, `kiln stop`). False when it is not loaded.
  bool unload(const std::string& name);
  std::vector<PsEntry> ps() const;
  const PoolConfig& config() const { return config_; }

 private:
  struct Entry;
  struct Prepared;
  Prepared prepare(const std::string& name, const engine::Options& runner) const;
  // True when a loaded model can serve a request prepared as `p` as it is.
  static bool serves(const LoadedModel& model, const Prepared& p);
  std::shared_ptr<LoadedModel> load(const Prepared& p) const;
  Entry* find_entry(const std::string& key) const;
  // Makes room for `bytes` more and one more model, unloading idle models
  // (least recently used first) and waiting for running ones until
  // `deadline`. Returns with the lock held.
  void make_room(std::unique_lock<std::mutex>& lock, const Prepared& p,
                 std::chrono::steady_clock::time_point deadline);
  // Removes the entry and destroys its model outside the lock (the memory
  // counts as used until it is freed).
  void unload_entry(std::unique_lock<std::mutex>& lock, Entry* entry);
  void release(LoadedModel* model, std::optional<KeepAlive> keep_alive);
  void reaper_main();
  void update_gauge();

  store::ModelStore& store_;
  PoolConfig config_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::string gpu_;  // the GPU backend a model may use ("" when none)
  uint64_t unloading_bytes_ = 0;  // models being destroyed right now
  bool stop_ = false;
  metrics::Gauge* loaded_gauge_ = nullptr;
  std::thread reaper_;
};

}  // namespace kiln::server
