#include "core/alloc_counter.h"

#include <atomic>

#include "core/error.h"

namespace kiln::runtime {
namespace {

// Process-wide totals plus per-thread ones. These are plain counters that
// only ever grow; AllocCounter takes differences, so scopes never reset them
// and nested or concurrent scopes do not disturb one another.
std::atomic<uint64_t> g_allocations{0};
std::atomic<uint64_t> g_deallocations{0};
std::atomic<uint64_t> g_bytes{0};
std::atomic<bool> g_installed{false};

// constinit trivial thread_locals need no TLS initialisation call, so they
// are safe to touch from inside operator new on any thread.
constinit thread_local uint64_t t_allocations = 0;
constinit thread_local uint64_t t_deallocations = 0;
constinit thread_local uint64_t t_bytes = 0;

AllocStats process_totals() noexcept {
  return {g_allocations.load(std::memory_order_acquire), g_deallocations.load(std::memory_order_acquire),
          g_bytes.load(std::memory_order_acquire)};
}

AllocStats thread_totals() noexcept { return {t_allocations, t_deallocations, t_bytes}; }

AllocStats minus(const AllocStats& a, const AllocStats& b) noexcept {
  return {a.allocations - b.allocations, a.deallocations - b.deallocations, a.bytes - b.bytes};
}

}  // namespace

namespace alloc_probe_detail {

void note_allocation(std::size_t bytes) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(bytes, std::memory_order_relaxed);
  ++t_allocations;
  t_bytes += bytes;
}

void note_deallocation() noexcept {
  g_deallocations.fetch_add(1, std::memory_order_relaxed);
  ++t_deallocations;
}

bool mark_installed() noexcept {
  g_installed.store(true, std::memory_order_release);
  return true;
}

}  // namespace alloc_probe_detail

bool alloc_probe_installed() noexcept { return g_installed.load(std::memory_order_acquire); }

AllocCounter::AllocCounter() {
  if (!alloc_probe_installed()) {
    throw Error(
        "AllocCounter: this executable does not replace operator new; include core/alloc_probe.h "
        "in exactly one of its .cpp files (tests and benchmarks only)");
  }
  restart();
}

void AllocCounter::restart() noexcept {
  process_start_ = process_totals();
  thread_start_ = thread_totals();
}

AllocStats AllocCounter::process() const noexcept { return minus(process_totals(), process_start_); }

AllocStats AllocCounter::this_thread() const noexcept { return minus(thread_totals(), thread_start_); }

}  // namespace kiln::runtime
