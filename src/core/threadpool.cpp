#include "core/threadpool.h"

#include <pthread.h>

#include <chrono>
#include <string>

#include "core/cpu_features.h"
#include "core/error.h"

namespace kiln::runtime {
namespace {

// Thrown inside participants waiting at a barrier when another participant's
// task failed: unwinds them out of the job; run() rethrows the real error.
struct BarrierAborted {};

// The pool whose task this thread is running (and that task's nth), to
// answer barrier() and to refuse a run() that would deadlock.
thread_local const ThreadPool* t_active_pool = nullptr;
thread_local int t_active_nth = 0;

class ActiveScope {
 public:
  ActiveScope(const ThreadPool* pool, int nth) noexcept : saved_pool_(t_active_pool), saved_nth_(t_active_nth) {
    t_active_pool = pool;
    t_active_nth = nth;
  }
  ~ActiveScope() {
    t_active_pool = saved_pool_;
    t_active_nth = saved_nth_;
  }

 private:
  const ThreadPool* saved_pool_;
  int saved_nth_;
};

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

using Clock = std::chrono::steady_clock;

// Spins until done() holds or spin_us elapse; true if done() held. The clock
// is read every 64 pauses only, to keep the loop tight. After the first
// kPureSpin the loop also yields the CPU each time it reads the clock: when
// there are more runnable threads than cores (a busy machine, or more
// threads than cores), the thread we wait for may be waiting for this very
// CPU, and pure spinning would keep it off for a whole time slice.
constexpr auto kPureSpin = std::chrono::microseconds(20);

template <class Done>
bool spin_until(Done done, int spin_us) noexcept {
  if (done()) return true;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::microseconds(spin_us);
  const auto yield_after = start + kPureSpin;
  for (unsigned i = 1;; ++i) {
    cpu_relax();
    if (done()) return true;
    if ((i & 63) == 0) {
      const auto now = Clock::now();
      if (now >= deadline) return false;
      if (now >= yield_after) std::this_thread::yield();
    }
  }
}

// Sleeps on `word` until it differs from `old`. `sleepers` is raised first so
// that the thread changing `word` knows a futex wake is needed; the seq_cst
// increment-then-load here against change-then-load-sleepers there means one
// of the two sides always sees the other (no lost wake-up), and
// atomic::wait re-checks the value inside the kernel.
uint32_t sleep_until_changed(std::atomic<uint32_t>& word, uint32_t old, std::atomic<int>& sleepers) noexcept {
  sleepers.fetch_add(1, std::memory_order_seq_cst);
  uint32_t now;
  while ((now = word.load(std::memory_order_seq_cst)) == old) word.wait(old, std::memory_order_seq_cst);
  sleepers.fetch_sub(1, std::memory_order_relaxed);
  return now;
}

}  // namespace

ThreadPool::ThreadPool(const Options& options) : spin_us_(options.spin_us < 0 ? 0 : options.spin_us) {
  int threads = options.threads == 0 ? physical_core_count() : options.threads;
  if (threads < 1 || threads > 1024)
    throw Error("thread pool: " + std::to_string(options.threads) + " threads requested; expected 1..1024 (0 = physical cores)");
  workers_.reserve(size_t(threads - 1));
  try {
    for (int i = 1; i < threads; ++i) {
      workers_.emplace_back([this, i, name = options.name_threads] {
        if (name) {
          std::string label = "kiln-worker-" + std::to_string(i);
          pthread_setname_np(pthread_self(), label.substr(0, 15).c_str());
        }
        worker_main(i);
      });
    }
  } catch (const std::system_error& e) {
    stop_.store(true);
    generation_.value.fetch_add(1);
    generation_.value.notify_all();
    for (auto& t : workers_) t.join();
    throw Error("thread pool: cannot start " + std::to_string(threads - 1) + " worker threads: " + e.what());
  }
}

ThreadPool::~ThreadPool() {
  std::lock_guard lock(dispatch_mutex_);
  stop_.store(true, std::memory_order_release);
  generation_.value.fetch_add(1, std::memory_order_seq_cst);
  generation_.value.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_main(int ith) {
  // The constructor never dispatches, so generation 0 is the state before
  // the first job even if this thread starts late.
  uint32_t seen = 0;
  for (;;) {
    auto changed = [&] { return generation_.value.load(std::memory_order_acquire) != seen; };
    if (spin_until(changed, spin_us_)) {
      seen = generation_.value.load(std::memory_order_acquire);
    } else {
      seen = sleep_until_changed(generation_.value, seen, sleepers_.value);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    const int nth = job_nth_;
    if (ith < nth) execute(ith, nth);
    // The last worker out wakes the caller if it went to sleep.
    if (pending_.value.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        caller_waiting_.value.load(std::memory_order_seq_cst) != 0) {
      pending_.value.notify_all();
    }
  }
}

void ThreadPool::execute(int ith, int nth) noexcept {
  ActiveScope active(this, nth);
  try {
    (*job_)(ith, nth);
  } catch (const BarrierAborted&) {
    // Another participant failed; its exception is the one reported.
  } catch (...) {
    record_error(std::current_exception());
  }
}

void ThreadPool::record_error(std::exception_ptr e) noexcept {
  if (!error_claimed_.exchange(true, std::memory_order_acq_rel)) error_ = std::move(e);
  // Release everyone waiting at a barrier: they see abort_ and unwind.
  abort_.store(true, std::memory_order_seq_cst);
  barrier_phase_.value.fetch_add(1, std::memory_order_seq_cst);
  if (barrier_sleepers_.value.load(std::memory_order_seq_cst) > 0) barrier_phase_.value.notify_all();
}

void ThreadPool::wait_for_workers() noexcept {
  auto done = [&] { return pending_.value.load(std::memory_order_acquire) == 0; };
  if (spin_until(done, spin_us_)) return;
  caller_waiting_.value.store(1, std::memory_order_seq_cst);
  int left;
  while ((left = pending_.value.load(std::memory_order_seq_cst)) != 0) pending_.value.wait(left);
  caller_waiting_.value.store(0, std::memory_order_relaxed);
}

void ThreadPool::run(FunctionRef<void(int, int)> fn, int nth) {
  if (t_active_pool == this)
    throw Error("thread pool: run() called from inside one of its own tasks (it would deadlock)");
  if (nth <= 0 || nth > size()) nth = size();
  if (nth == 1) {  // nothing to hand out: no wake-ups, no barrier traffic
    ActiveScope active(this, 1);
    fn(0, 1);
    return;
  }
  std::lock_guard lock(dispatch_mutex_);
  job_ = &fn;
  job_nth_ = nth;
  barrier_count_.value.store(0, std::memory_order_relaxed);
  pending_.value.store(int(workers_.size()), std::memory_order_relaxed);
  // Publishes the job (release semantics of the seq_cst increment); then a
  // futex wake only if some worker stopped spinning.
  generation_.value.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.value.load(std::memory_order_seq_cst) > 0) generation_.value.notify_all();

  execute(0, nth);
  wait_for_workers();

  job_ = nullptr;
  abort_.store(false, std::memory_order_relaxed);
  error_claimed_.store(false, std::memory_order_relaxed);
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void ThreadPool::parallel_for(int64_t n_tasks, FunctionRef<void(int64_t, int)> fn, int nth) {
  if (n_tasks <= 0) return;
  if (nth <= 0 || nth > size()) nth = size();
  if (n_tasks < nth) nth = int(n_tasks);
  // The shared counter lives on this stack frame: no allocation, and no
  // state left in the pool between calls. Its own cache line keeps the
  // caller's other locals out of the contended line.
  struct alignas(64) TaskCounter {
    std::atomic<int64_t> next{0};
  } counter;
  auto body = [&](int ith, int) {
    for (;;) {
      if (abort_.load(std::memory_order_relaxed)) return;  // a task failed: stop handing out work
      const int64_t task = counter.next.fetch_add(1, std::memory_order_relaxed);
      if (task >= n_tasks) return;
      fn(task, ith);
    }
  };
  run(body, nth);
}

void ThreadPool::barrier() {
  if (t_active_pool != this) throw Error("thread pool: barrier() called outside a task of this pool");
  const int nth = t_active_nth;
  if (nth <= 1) return;
  // Read the phase before checking abort_: an abort bumps the phase after
  // setting abort_, so either we see abort_ here or we see the phase move.
  const uint32_t phase = barrier_phase_.value.load(std::memory_order_seq_cst);
  if (abort_.load(std::memory_order_seq_cst)) throw BarrierAborted{};
  if (barrier_count_.value.fetch_add(1, std::memory_order_acq_rel) == nth - 1) {
    // Last to arrive: re-arm the counter, then open the barrier.
    barrier_count_.value.store(0, std::memory_order_relaxed);
    barrier_phase_.value.fetch_add(1, std::memory_order_seq_cst);
    if (barrier_sleepers_.value.load(std::memory_order_seq_cst) > 0) barrier_phase_.value.notify_all();
    return;
  }
  auto opened = [&] { return barrier_phase_.value.load(std::memory_order_acquire) != phase; };
  if (!spin_until(opened, spin_us_)) sleep_until_changed(barrier_phase_.value, phase, barrier_sleepers_.value);
  if (abort_.load(std::memory_order_seq_cst)) throw BarrierAborted{};
}

}  // namespace kiln::runtime
