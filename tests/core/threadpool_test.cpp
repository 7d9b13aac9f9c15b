#include "core/threadpool.h"

#include <gtest/gtest.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/alloc_counter.h"
#include "core/cpu_features.h"
#include "core/error.h"

namespace kiln::runtime {
namespace {

double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

TEST(ThreadPool, DefaultSizeIsThePhysicalCoreCount) {
  ThreadPool pool;
  EXPECT_EQ(pool.size(), physical_core_count());
}

TEST(ThreadPool, RejectsImpossibleThreadCounts) {
  EXPECT_THROW(ThreadPool(-1), Error);
  EXPECT_THROW(ThreadPool(100000), Error);
}

TEST(ThreadPool, RunCallsEachParticipantOnceWithTheCallerAsZero) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    ASSERT_EQ(pool.size(), threads);
    std::vector<std::atomic<int>> calls(static_cast<size_t>(threads));
    std::vector<std::thread::id> ids(static_cast<size_t>(threads));
    int seen_nth = -1;
    pool.run([&](int ith, int nth) {
      calls[size_t(ith)]++;
      ids[size_t(ith)] = std::this_thread::get_id();
      if (ith == 0) seen_nth = nth;
    });
    EXPECT_EQ(seen_nth, threads);
    for (int i = 0; i < threads; ++i) EXPECT_EQ(calls[size_t(i)], 1) << i;
    EXPECT_EQ(ids[0], std::this_thread::get_id());
    for (int i = 1; i < threads; ++i) EXPECT_NE(ids[size_t(i)], ids[0]);
  }
}

TEST(ThreadPool, RunWithFewerParticipantsThanThreads) {
  ThreadPool pool(4);
  std::atomic<int> calls{0}, max_ith{-1};
  for (int nth : {1, 2, 3}) {
    calls = 0;
    pool.run(
        [&](int ith, int n) {
          EXPECT_EQ(n, nth);
          calls++;
          int m = max_ith.load();
          while (ith > m && !max_ith.compare_exchange_weak(m, ith)) {
          }
        },
        nth);
    EXPECT_EQ(calls, nth);
  }
  EXPECT_EQ(max_ith, 2);
}

TEST(ThreadPool, ManyDispatchesInARow) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int i = 0; i < 2000; ++i) pool.run([&](int ith, int) { sum += ith + 1; });
  EXPECT_EQ(sum, 2000 * (1 + 2 + 3));
}

TEST(ThreadPool, ParallelForRunsEveryTaskExactlyOnce) {
  ThreadPool pool(4);
  for (int64_t n : {0, 1, 3, 4, 5, 1000, 10007}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    std::atomic<int> bad_thread{0};
    pool.parallel_for(n, [&](int64_t task, int thread) {
      hits[size_t(task)]++;
      if (thread < 0 || thread >= 4) bad_thread++;
    });
    for (int64_t t = 0; t < n; ++t) ASSERT_EQ(hits[size_t(t)], 1) << "n=" << n << " task=" << t;
    EXPECT_EQ(bad_thread, 0);
  }
}

TEST(ThreadPool, ParallelForBalancesUnevenTasks) {
  // Task 0 does not finish until every other task has: only a pool that
  // hands tasks out dynamically gets through (a static split would leave
  // the tasks after 0 queued behind it). The deadline turns a bug into a
  // failure instead of a hang.
  ThreadPool pool(2);
  std::atomic<int> others_done{0};
  std::atomic<bool> timed_out{false};
  std::vector<int> owner(64, -1);
  pool.parallel_for(64, [&](int64_t task, int thread) {
    owner[size_t(task)] = thread;
    if (task != 0) {
      others_done++;
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (others_done.load() < 63) {
      if (std::chrono::steady_clock::now() > deadline) {
        timed_out = true;
        return;
      }
      std::this_thread::yield();
    }
  });
  ASSERT_FALSE(timed_out);
  for (size_t t = 1; t < owner.size(); ++t) EXPECT_NE(owner[t], owner[0]) << t;
}

TEST(ThreadPool, BarrierSeparatesPhases) {
  // Each round every participant writes its slot, waits, then checks every
  // other slot: a missing or leaky barrier shows up as a stale value.
  for (int threads : {2, 3, 5}) {
    ThreadPool pool(threads);
    std::vector<int> slots(size_t(threads), -1);
    std::atomic<int> errors{0};
    pool.run([&](int ith, int nth) {
      for (int round = 0; round < 300; ++round) {
        slots[size_t(ith)] = round;
        pool.barrier();
        for (int j = 0; j < nth; ++j)
          if (slots[size_t(j)] != round) errors++;
        pool.barrier();
      }
    });
    EXPECT_EQ(errors, 0) << threads;
  }
}

TEST(ThreadPool, BarrierWithSleepingParticipants) {
  // spin_us = 0: every wait goes to the futex at once.
  ThreadPool pool(ThreadPool::Options{.threads = 3, .spin_us = 0});
  std::atomic<int> after{0};
  for (int i = 0; i < 200; ++i) {
    pool.run([&](int ith, int) {
      if (ith == 0 && i % 50 == 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
      pool.barrier();
      after++;
    });
  }
  EXPECT_EQ(after, 600);
}

TEST(ThreadPool, BarrierOutsideATaskIsAnError) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.barrier(), Error);
}

TEST(ThreadPool, ExceptionInAWorkerReachesTheCaller) {
  ThreadPool pool(3);
  try {
    pool.run([](int ith, int) {
      if (ith == 2) throw Error("task 2 failed");
    });
    FAIL() << "expected the task's exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "task 2 failed");
  }
  // The pool is fine afterwards.
  std::atomic<int> calls{0};
  pool.run([&](int, int) { calls++; });
  EXPECT_EQ(calls, 3);
}

TEST(ThreadPool, ExceptionOnTheCallerThreadPropagates) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.run([](int ith, int) {
    if (ith == 0) throw std::runtime_error("caller task");
  }),
               std::runtime_error);
  ThreadPool single(1);
  EXPECT_THROW(single.run([](int, int) { throw std::runtime_error("inline"); }), std::runtime_error);
}

TEST(ThreadPool, ExceptionReleasesParticipantsWaitingAtABarrier) {
  ThreadPool pool(ThreadPool::Options{.threads = 4, .spin_us = 50});
  std::atomic<int> passed{0};
  EXPECT_THROW(pool.run([&](int ith, int) {
    if (ith == 1) throw Error("failed before the barrier");
    pool.barrier();  // would wait forever for participant 1
    passed++;
  }),
               Error);
  EXPECT_EQ(passed, 0);
  // Barriers work again in the next dispatch.
  pool.run([&](int, int) {
    pool.barrier();
    passed++;
  });
  EXPECT_EQ(passed, 4);
}

TEST(ThreadPool, ExceptionStopsHandingOutParallelForTasks) {
  ThreadPool pool(2);
  std::atomic<int64_t> ran{0};
  EXPECT_THROW(pool.parallel_for(1000000,
                                 [&](int64_t task, int) {
                                   ran++;
                                   if (task == 10) throw Error("task 10");
                                 }),
               Error);
  EXPECT_LT(ran, 1000000);
}

TEST(ThreadPool, RunFromInsideATaskIsRefused) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.run([&](int, int) { pool.run([](int, int) {}); }), Error);
  ThreadPool single(1);
  EXPECT_THROW(single.run([&](int, int) { single.run([](int, int) {}); }), Error);
}

TEST(ThreadPool, TasksMayUseAnotherPool) {
  ThreadPool outer(2), inner(2);
  std::atomic<int> calls{0};
  outer.run(
      [&](int ith, int) {
        if (ith == 0) inner.run([&](int, int) { calls++; });
      });
  EXPECT_EQ(calls, 2);
}

TEST(ThreadPool, DispatchAllocatesNothing) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  pool.run([&](int, int) {});  // warm-up
  AllocCounter counter;
  for (int i = 0; i < 200; ++i) {
    pool.run([&](int ith, int) {
      sum += ith;
      pool.barrier();
    });
    pool.parallel_for(17, [&](int64_t task, int) { sum += task; });
  }
  EXPECT_EQ(counter.process().allocations, 0u);
  EXPECT_EQ(sum, 200 * (0 + 1 + 2) + 200 * (16 * 17 / 2));
}

TEST(ThreadPool, IdleWorkersSleepInsteadOfSpinning) {
  ThreadPool pool(ThreadPool::Options{.threads = 4, .spin_us = 100});
  pool.run([](int, int) {});
  const double cpu_before = process_cpu_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const double cpu_used = process_cpu_ms() - cpu_before;
  // Three workers spinning through the pause would burn ~30 ms of CPU.
  EXPECT_LT(cpu_used, 6.0);
  // And they still wake up.
  std::atomic<int> calls{0};
  pool.run([&](int, int) { calls++; });
  EXPECT_EQ(calls, 4);
}

TEST(ThreadPool, CallerSleepsWhileWorkersRunLong) {
  ThreadPool pool(ThreadPool::Options{.threads = 2, .spin_us = 0});
  std::atomic<int> done{0};
  pool.run([&](int ith, int) {
    if (ith == 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    done++;
  });
  EXPECT_EQ(done, 2);
}

TEST(ThreadPool, CreatingAndDestroyingPoolsIsSafe) {
  // Pools destroyed right after start (workers maybe not yet running), while
  // spinning, and while asleep must all shut down cleanly.
  std::atomic<int> calls{0};
  for (int i = 0; i < 50; ++i) {
    ThreadPool pool(ThreadPool::Options{.threads = 3, .spin_us = i % 2 ? 0 : 100});
    if (i % 3 == 0) pool.run([&](int, int) { calls++; });
  }
  EXPECT_EQ(calls, 17 * 3);
}

TEST(ThreadPool, ConcurrentCallersAreSerialised) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  auto caller = [&] {
    for (int i = 0; i < 200; ++i) pool.run([&](int, int nth) { sum += nth; });
  };
  std::thread a(caller), b(caller);
  a.join();
  b.join();
  EXPECT_EQ(sum, 2 * 200 * 2 * 2);  // two callers, two participants adding nth = 2
}

}  // namespace
}  // namespace kiln::runtime
