#pragma once
// Counting heap allocations, to prove claims such as "a decode step after
// warm-up allocates nothing" in tests and benchmarks.
//
// How it works: the executable that wants counts replaces the global
// operator new/delete by including core/alloc_probe.h in exactly one of its
// .cpp files (tests and bench programs only). The replacements forward to
// malloc/free and bump the counters defined here. kiln_core itself never
// replaces operator new, so production binaries keep the standard allocator
// and pay nothing; AllocCounter refuses to run (kiln::Error) in a binary that
// lacks the probe, so a test can never "pass" by counting nothing.
//
// Why operator new and not malloc: every allocation in kiln's C++ code (std
// containers, strings, make_unique, std::function) goes through operator new,
// which the standard lets a program replace portably. glibc removed its
// malloc hooks in 2.34, and interposing malloc itself clashes with the
// sanitizers' allocators (KILN_SANITIZE). What this does not see: direct
// malloc calls from C libraries (stdio buffers, regex engines), which do not
// belong in a decode step either.
#include <cstddef>
#include <cstdint>

namespace kiln::runtime {

struct AllocStats {
  uint64_t allocations = 0;    // operator new calls (all forms)
  uint64_t deallocations = 0;  // operator delete calls on non-null pointers
  uint64_t bytes = 0;          // bytes requested by those allocations
};

// True when this executable includes core/alloc_probe.h.
bool alloc_probe_installed() noexcept;

// Counts allocations from its construction on. process() sees every thread
// (a decode step runs on the thread pool's workers too); this_thread() only
// the constructing thread, for code that must not see unrelated threads.
class AllocCounter {
 public:
  AllocCounter();  // throws kiln::Error when the probe is not linked in
  AllocStats process() const noexcept;
  AllocStats this_thread() const noexcept;
  uint64_t allocations() const noexcept { return process().allocations; }
  // Starts counting afresh from now.
  void restart() noexcept;

 private:
  AllocStats process_start_;
  AllocStats thread_start_;
};

// Called only by the replacement operators in core/alloc_probe.h.
namespace alloc_probe_detail {
void note_allocation(std::size_t bytes) noexcept;
void note_deallocation() noexcept;
bool mark_installed() noexcept;
}  // namespace alloc_probe_detail

}  // namespace kiln::runtime
