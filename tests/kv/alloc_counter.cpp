// Replaces the global operator new/delete of test_kv with counting versions,
// so tests can prove that hot paths do not allocate. Kept in its own file so
// that no caller sees both new and free inlined together.
#include "alloc_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<int64_t> g_allocations{0};
}

namespace kiln::kv::testing {
int64_t heap_allocations() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace kiln::kv::testing

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
