#pragma once
// A persistent pool of worker threads for data-parallel kernels.
//
// A decode step issues hundreds of small parallel ops (a matmul slice, a norm,
// an attention head group), each lasting tens of microseconds, so what matters
// is the cost of handing out work and of waiting for it: here a dispatch is one
// atomic increment that spinning workers see within ~100 ns, and completion is
// one atomic countdown. Workers spin for a short while after each job (the next
// op usually follows at once) and then sleep on a futex (C++20 atomic wait), so
// an idle server does not burn CPU between requests.
//
// The calling thread is participant 0 and works too: a pool of size N starts
// N-1 threads. Dispatch allocates nothing (jobs are passed as FunctionRef, a
// non-owning callable reference). One dispatch runs at a time; run() from two
// outside threads serialises, run() from inside a task of the same pool is an
// error (it would deadlock). An exception thrown by any task stops the job
// (other participants finish their current task, barriers release) and is
// rethrown by run() on the calling thread.
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace kiln::runtime {

template <class Signature>
class FunctionRef;

// A non-owning reference to a callable: two pointers, no allocation. The
// callable must outlive the call (it does: run() returns only when every
// participant has finished with it).
template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_invocable_r_v<R, F&, Args...>)
  FunctionRef(F&& f) noexcept  // NOLINT: implicit by design, like std::function
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* o, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<Args>(args)...);
        }) {}
  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

class ThreadPool {
 public:
  struct Options {
    int threads = 0;        // participants including the caller; 0 = physical cores
    int spin_us = 200;      // how long an idle worker spins before it sleeps
    bool name_threads = true;  // "kiln-worker-N" in top/gdb
  };

  ThreadPool() : ThreadPool(Options{}) {}
  explicit ThreadPool(int threads) : ThreadPool(Options{.threads = threads}) {}
  explicit ThreadPool(const Options& options);
  ~ThreadPool();  // wakes and joins every worker
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Participants, the caller included.
  int size() const noexcept { return int(workers_.size()) + 1; }

  // Calls fn(ith, nth) once on each of nth participants (ith = 0 on the
  // caller) and returns when all are done. nth <= 0 or > size() means size().
  void run(FunctionRef<void(int ith, int nth)> fn, int nth = 0);

  // Calls fn(task, thread) for every task in [0, n_tasks), handing tasks out
  // one at a time from a shared counter, so uneven tasks balance themselves.
  // Make a task worth ~1 us or more; the counter costs tens of ns per task.
  void parallel_for(int64_t n_tasks, FunctionRef<void(int64_t task, int thread)> fn, int nth = 0);

  // Inside a task of run(): waits until all nth participants have called it.
  // Every participant must call barrier() the same number of times.
  void barrier();

 private:
  void worker_main(int ith);
  void execute(int ith, int nth) noexcept;
  void record_error(std::exception_ptr e) noexcept;
  void wait_for_workers() noexcept;

  // Fields shared across threads sit on their own cache lines so that a
  // worker spinning on one does not steal the line another thread writes.
  struct alignas(64) Padded32 {
    std::atomic<uint32_t> value{0};
  };
  struct alignas(64) PaddedInt {
    std::atomic<int> value{0};
  };
  struct alignas(64) PaddedI64 {
    std::atomic<int64_t> value{0};
  };

  Padded32 generation_;      // bumped once per dispatch (and at shutdown)
  PaddedInt sleepers_;       // workers parked on generation_
  PaddedInt pending_;        // workers that have not finished this dispatch
  PaddedInt caller_waiting_; // 1 while the caller sleeps on pending_
  PaddedInt barrier_count_;  // participants arrived at the current barrier
  Padded32 barrier_phase_;   // bumped when a barrier opens (or the job aborts)
  PaddedInt barrier_sleepers_;
  PaddedI64 next_task_;      // parallel_for's shared task counter

  // The job of the current dispatch: written by the caller before it bumps
  // generation_, read by workers after they see the bump.
  FunctionRef<void(int, int)>* job_ = nullptr;
  int job_nth_ = 1;
  std::atomic<bool> abort_{false};
  std::atomic<bool> error_claimed_{false};
  std::exception_ptr error_;
  std::atomic<bool> stop_{false};

  int spin_us_;
  std::mutex dispatch_mutex_;
  std::vector<std::thread> workers_;
};

}  // namespace kiln::runtime
