// The allocation probe: this file links the counting operator new/delete
// into test_core (every test in the executable can then use AllocCounter).
#include "core/alloc_probe.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/alloc_counter.h"
#include "core/arena.h"
#include "core/error.h"

namespace kiln::runtime {
namespace {

// Keeps the compiler from proving an allocation unused and eliding it (C++14
// lets it drop new/delete pairs it can see through).
void escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

TEST(AllocProbe, IsInstalledInThisExecutable) { EXPECT_TRUE(alloc_probe_installed()); }

TEST(AllocProbe, CountsEveryVectorReallocation) {
  AllocCounter counter;
  std::vector<int> v;
  uint64_t capacity_changes = 0;
  size_t capacity = v.capacity();
  for (int i = 0; i < 1000; ++i) {
    v.push_back(i);
    escape(v.data());
    if (v.capacity() != capacity) {
      ++capacity_changes;
      capacity = v.capacity();
    }
  }
  ASSERT_GT(capacity_changes, 0u);
  EXPECT_EQ(counter.allocations(), capacity_changes);
  EXPECT_EQ(counter.process().deallocations, capacity_changes - 1);  // the live buffer remains
  EXPECT_GE(counter.process().bytes, 1000 * sizeof(int));
}

TEST(AllocProbe, ReservedVectorGrowsWithoutAllocating) {
  std::vector<int> v;
  v.reserve(1000);
  AllocCounter counter;
  for (int i = 0; i < 1000; ++i) v.push_back(i);
  escape(v.data());
  EXPECT_EQ(counter.allocations(), 0u);
}

TEST(AllocProbe, CountsEveryFormOfNew) {
  AllocCounter counter;
  auto* a = new int(7);
  escape(a);
  auto* b = new int[5];
  escape(b);
  auto* c = new (std::nothrow) double(1.0);
  escape(c);
  struct alignas(256) Wide {
    char bytes[256];
  };
  auto* d = new Wide;
  escape(d);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(d) % 256, 0u);
  EXPECT_EQ(counter.allocations(), 4u);
  EXPECT_EQ(counter.process().bytes, sizeof(int) + 5 * sizeof(int) + sizeof(double) + sizeof(Wide));
  delete a;
  delete[] b;
  delete c;
  delete d;
  EXPECT_EQ(counter.process().deallocations, 4u);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;  // their allocators abort on impossible sizes
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

TEST(AllocProbe, FailedAllocationThrowsOrReturnsNull) {
  if (kSanitized) GTEST_SKIP() << "sanitizer allocators abort instead of failing";
  const size_t impossible = SIZE_MAX / 2;
  EXPECT_THROW(escape(::operator new(impossible)), std::bad_alloc);
  EXPECT_EQ(::operator new(impossible, std::nothrow), nullptr);
}

TEST(AllocProbe, SeesOtherThreadsInProcessCountOnly) {
  AllocCounter counter;
  std::thread t([] {
    auto p = std::make_unique<std::string>(100, 'x');
    escape(p.get());
  });
  t.join();
  // The worker's string (and std::thread's own state) count process-wide...
  EXPECT_GE(counter.process().allocations, 1u);
  // ...while this thread only made the std::thread state.
  EXPECT_LT(counter.this_thread().allocations, counter.process().allocations);
}

TEST(AllocProbe, NestedCountersAreIndependent) {
  AllocCounter outer;
  escape(std::make_unique<int>(1).get());
  AllocCounter inner;
  EXPECT_EQ(inner.allocations(), 0u);
  escape(std::make_unique<int>(2).get());
  EXPECT_EQ(inner.allocations(), 1u);
  EXPECT_EQ(outer.allocations(), 2u);
  outer.restart();
  EXPECT_EQ(outer.allocations(), 0u);
}

TEST(AllocProbe, ArenaOnlyCodeAllocatesNothing) {
  Arena arena(1 << 20, "scratch");
  AllocCounter counter;
  for (int step = 0; step < 100; ++step) {
    ArenaScope scope(arena);
    auto xs = arena.allocate_array<float>(1000);
    auto ids = arena.allocate_array<int32_t>(17);
    for (size_t i = 0; i < xs.size(); ++i) xs[i] = float(i);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
    escape(xs.data());
    escape(ids.data());
  }
  EXPECT_EQ(counter.process().allocations, 0u);
  EXPECT_EQ(counter.process().deallocations, 0u);
}

}  // namespace
}  // namespace kiln::runtime
