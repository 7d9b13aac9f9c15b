// The model pool: leases, the memory budget, least-recently-used eviction
// and keep_alive expiry. Loading itself (and sizing) is model_pool_load.cpp.
//
// One mutex guards the entries; nothing slow runs under it. A model loads
// (and an evicted one is destroyed) with the lock released, so requests for
// other models go on meanwhile; the entry of a model being loaded is in the
// table from the start (with its estimated size reserved), so a second
// request for it waits for that load instead of starting another.
#include "server/model_pool.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "core/metrics.h"
#include "server/http_error.h"
#include "server/model_pool_internal.h"
#include "store/humanize.h"

namespace kiln::server {
namespace {

using Steady = std::chrono::steady_clock;

int64_t since_ns(Steady::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now() - t0).count();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// How often the reaper looks again at a model whose last lease ended while
// its scheduler still winds down a cancelled request.
constexpr auto kIdlePoll = std::chrono::milliseconds(20);

}  // namespace

uint64_t default_memory_budget() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return uint64_t(8) << 30;  // unknown: a modest 8 GiB
  return uint64_t(pages) * uint64_t(page) / 4 * 3;
}

// ---- Lease

ModelPool::Lease::Lease(Lease&& o) noexcept
    : pool_(std::exchange(o.pool_, nullptr)), model_(std::move(o.model_)), keep_alive_(o.keep_alive_),
      load_ns_(o.load_ns_) {}

ModelPool::Lease& ModelPool::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    Lease old(std::move(*this));  // releases what this held
    pool_ = std::exchange(o.pool_, nullptr);
    model_ = std::move(o.model_);
    keep_alive_ = o.keep_alive_;
    load_ns_ = o.load_ns_;
  }
  return *this;
}

ModelPool::Lease::~Lease() {
  if (!pool_ || !model_) return;
  // The pool's entry keeps the model alive; dropping this reference first
  // means the model is destroyed where the pool decides (never here).
  LoadedModel* raw = model_.get();
  model_.reset();
  pool_->release(raw, keep_alive_);
}

// ---- ModelPool

ModelPool::ModelPool(store::ModelStore& store, PoolConfig config) : store_(store), config_(std::move(config)) {
  if (config_.memory_budget_bytes == 0) config_.memory_budget_bytes = default_memory_budget();
  config_.max_loaded = std::max(config_.max_loaded, 1);
  config_.num_parallel = std::max(config_.num_parallel, 1);
  if (config_.backend.empty()) {
    const std::string best = backend::default_backend();
    if (backend::is_device_backend(best)) gpu_ = best;
  } else if (backend::is_device_backend(config_.backend)) {
    gpu_ = config_.backend;
  }
  if (config_.metrics)
    loaded_gauge_ = &config_.metrics->gauge("kiln_models_loaded", "Models loaded in memory (loading ones included)");
  reaper_ = std::thread([this] { reaper_main(); });
}

ModelPool::~ModelPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  reaper_.join();
  entries_.clear();  // every Scheduler cancels what it still runs and joins its thread
}

ModelPool::Entry* ModelPool::find_entry(const std::string& key) const {
  for (const auto& e : entries_)
    if (e->key == key) return e.get();
  return nullptr;
}

void ModelPool::update_gauge() {
  if (loaded_gauge_) loaded_gauge_->set(double(entries_.size()));
}

void ModelPool::unload_entry(std::unique_lock<std::mutex>& lock, Entry* entry) {
  const auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e.get() == entry; });
  std::unique_ptr<Entry> owned = std::move(*it);
  entries_.erase(it);
  update_gauge();
  const uint64_t bytes = owned->bytes;
  unloading_bytes_ += bytes;
  lock.unlock();
  owned.reset();  // the Scheduler joins its thread; the weights are unmapped
  lock.lock();
  unloading_bytes_ -= bytes;
  cv_.notify_all();
}

void ModelPool::make_room(std::unique_lock<std::mutex>& lock, const Prepared& p, Steady::time_point deadline) {
  const uint64_t budget = config_.memory_budget_bytes;
  if (p.estimated_bytes > budget)
    throw HttpError(500, "model requires more system memory (" + store::human_bytes(p.estimated_bytes) +
                             ") than is available (" + store::human_bytes(budget) +
                             "; KILN_MAX_MEMORY sets the budget, a smaller num_ctx needs less)");
  while (true) {
    uint64_t used = unloading_bytes_;
    for (const auto& e : entries_) used += e->bytes;
    if (int(entries_.size()) < config_.max_loaded && used + p.estimated_bytes <= budget) return;
    // The least recently used model that nothing is using.
    Entry* victim = nullptr;
    for (const auto& e : entries_) {
      if (!e->model || e->leases > 0 || !e->model->scheduler->idle()) continue;
      if (!victim || e->last_used < victim->last_used) victim = e.get();
    }
    if (victim) {
      unload_entry(lock, victim);
      continue;
    }
    if (stop_) throw HttpError(503, "server is shutting down");
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      throw HttpError(503, "server busy: " + std::to_string(entries_.size()) +
                               " loaded model(s) are in use and '" + p.view.display_name +
                               "' does not fit beside them; try again later");
    }
  }
}

ModelPool::Lease ModelPool::acquire(const std::string& name, const engine::Options& runner,
                                    std::optional<KeepAlive> keep_alive) {
  const Prepared p = prepare(name, runner);  // store and file reads, before the lock
  const KeepAlive ka = keep_alive.value_or(config_.default_keep_alive);
  const Steady::time_point deadline = Steady::now() + config_.max_wait;
  auto lease_of = [&](Entry& e, int64_t load_ns) {
    ++e.leases;
    e.keep_alive = ka;
    e.expires_at.reset();
    e.last_used = Steady::now();
    Lease l;
    l.pool_ = this;
    l.model_ = e.model;
    l.keep_alive_ = keep_alive;
    l.load_ns_ = load_ns;
    return l;
  };

  std::unique_lock lock(mutex_);
  while (true) {
    if (stop_) throw HttpError(503, "server is shutting down");
    Entry* e = find_entry(p.key);
    if (e && e->model && !e->draining && serves(*e->model, p)) return lease_of(*e, 0);
    if (e && !e->model) {
      // Another request is loading it: wait for that load, however long it
      // takes (it fails or succeeds on its own).
      cv_.wait(lock);
      continue;
    }
    if (e) {
      // Loaded for other runner options (or another version of the model),
      // or being unloaded: wait for its requests to end so it can be reloaded.
      if (!e->draining) e->draining = true;
      if (e->leases == 0 && e->model->scheduler->idle()) {
        unload_entry(lock, e);
        continue;
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout)
        throw HttpError(503, "server busy: model '" + p.view.display_name +
                                 "' is in use with other options (num_ctx, num_batch, num_thread) and could not "
                                 "be reloaded in time; try again later");
      continue;
    }
    make_room(lock, p, deadline);  // may have released the lock: look again
    if (find_entry(p.key)) continue;
    break;
  }

  auto owned = std::make_unique<Entry>();
  Entry* entry = owned.get();
  entry->key = p.key;
  entry->bytes = p.estimated_bytes;
  entries_.push_back(std::move(owned));
  update_gauge();
  lock.unlock();

  const Steady::time_point t0 = Steady::now();
  std::shared_ptr<LoadedModel> model;
  try {
    model = load(p);
  } catch (...) {
    lock.lock();
    std::erase_if(entries_, [&](const auto& x) { return x.get() == entry; });
    update_gauge();
    cv_.notify_all();
    throw;
  }
  const int64_t load_ns = since_ns(t0);
  lock.lock();
  entry->model = std::move(model);
  entry->bytes = entry->model->size_bytes;
  Lease l = lease_of(*entry, load_ns);
  cv_.notify_all();
  return l;
}

void ModelPool::release(LoadedModel* model, std::optional<KeepAlive> keep_alive) {
  std::lock_guard lock(mutex_);
  for (const auto& e : entries_) {
    if (e->model.get() != model) continue;
    --e->leases;
    if (keep_alive) e->keep_alive = *keep_alive;
    e->last_used = Steady::now();
    if (e->leases == 0) {
      if (e->keep_alive.forever())
        e->expires_at.reset();
      else
        e->expires_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(e->keep_alive.duration);
    }
    break;
  }
  cv_.notify_all();  // the reaper (expiry, draining) and waiters for memory
}

bool ModelPool::unload(const std::string& name) {
  const std::string key = lower(store::ModelName::parse(name).full());
  std::lock_guard lock(mutex_);
  Entry* e = find_entry(key);
  if (!e) return false;
  e->draining = true;
  cv_.notify_all();
  return true;
}

std::vector<PsEntry> ModelPool::ps() const {
  std::lock_guard lock(mutex_);
  std::vector<PsEntry> out;
  const Clock::time_point now = Clock::now();
  for (const auto& e : entries_) {
    if (!e->model) continue;  // still loading: Ollama lists a model once it runs
    PsEntry p;
    p.name = e->model->name;
    p.digest = e->model->digest;
    p.size_bytes = e->model->size_bytes;
    p.size_vram = e->model->size_vram;
    p.context_length = e->model->context_length;
    p.details = e->model->details;
    if (e->leases > 0 && !e->keep_alive.forever())
      p.expires_at = now + std::chrono::duration_cast<Clock::duration>(e->keep_alive.duration);
    else if (e->leases == 0)
      p.expires_at = e->expires_at;
    if (e->draining) p.expires_at = std::min(p.expires_at.value_or(now), now);  // stopping
    out.push_back(std::move(p));
  }
  return out;
}

void ModelPool::reaper_main() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    const Clock::time_point now = Clock::now();
    Entry* due = nullptr;
    bool winding_down = false;
    std::optional<Clock::time_point> next;
    for (const auto& e : entries_) {
      if (!e->model || e->leases > 0) continue;
      const bool expired = e->draining || (e->expires_at && *e->expires_at <= now);
      if (!expired) {
        if (e->expires_at) next = std::min(next.value_or(*e->expires_at), *e->expires_at);
        continue;
      }
      if (e->model->scheduler->idle()) {
        due = e.get();
        break;
      }
      winding_down = true;
    }
    if (due) {
      unload_entry(lock, due);
      continue;
    }
    if (winding_down)
      cv_.wait_for(lock, kIdlePoll);
    else if (next)
      cv_.wait_until(lock, *next);
    else
      cv_.wait(lock);
  }
}

}  // namespace kiln::server
