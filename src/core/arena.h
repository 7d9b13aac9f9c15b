#pragma once
// A bump allocator over one block reserved at model load, for every per-step
// buffer (activations, scratch, attention metadata). A step takes a mark,
// allocates freely, and resets to the mark: no heap traffic, no frees, no
// fragmentation. When a request does not fit, allocate() throws ArenaExhausted
// naming the arena, the request and the space left; it never falls back to
// the heap, because a silent fallback would hide a sizing bug and break the
// zero-allocation guarantee of a decode step.
//
// Not thread-safe: one thread plans a step's buffers; kernels on the thread
// pool then write into them.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

#include "core/error.h"

namespace kiln::runtime {

class ArenaExhausted : public Error {
 public:
  ArenaExhausted(const std::string& message, size_t requested, size_t available)
      : Error(message), requested(requested), available(available) {}
  size_t requested;  // bytes asked for
  size_t available;  // bytes that were left (before alignment padding)
};

class Arena {
 public:
  static constexpr size_t kDefaultAlign = 64;  // a cache line; what AVX-512 loads want

  // Position to return to; only valid for the arena that made it.
  struct Mark {
    size_t offset = 0;
  };

  // Reserves `capacity` bytes (64-byte aligned) from the OS. The pages are
  // committed lazily unless `prefault` touches them now, which moves the page
  // faults from the first step to load time. `name` appears in errors.
  explicit Arena(size_t capacity, std::string name = "arena", bool prefault = false);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&& other) noexcept;
  Arena& operator=(Arena&& other) noexcept;

  // `bytes` bytes aligned to `align` (a power of two). Zero bytes gives a
  // valid aligned pointer that must not be dereferenced.
  void* allocate(size_t bytes, size_t align = kDefaultAlign);

  // Uninitialised storage for n objects of an implicit-lifetime type.
  template <class T>
  std::span<T> allocate_array(size_t n, size_t align = kDefaultAlign) {
    static_assert(std::is_trivially_destructible_v<T> && std::is_trivially_default_constructible_v<T>,
                  "arena memory is never destroyed: only trivial types");
    if (n > SIZE_MAX / sizeof(T)) throw_too_large(n, sizeof(T));
    size_t a = align < alignof(T) ? alignof(T) : align;
    return {static_cast<T*>(allocate(n * sizeof(T), a)), n};
  }

  Mark mark() const noexcept { return {used_}; }
  // Frees everything allocated after `m`. Throws kiln::Error if `m` lies
  // beyond the current position (a mark from a later state or another arena).
  void reset(Mark m);
  void reset() noexcept { used_ = 0; }

  size_t capacity() const noexcept { return capacity_; }
  size_t used() const noexcept { return used_; }
  size_t available() const noexcept { return capacity_ - used_; }
  // Most bytes ever in use at once (alignment padding included): what the
  // next load should reserve.
  size_t high_water() const noexcept { return high_water_; }
  void reset_high_water() noexcept { high_water_ = used_; }
  uint64_t allocation_count() const noexcept { return allocations_; }
  const std::string& name() const noexcept { return name_; }
  // Whether p points into this arena's block.
  bool owns(const void* p) const noexcept;

 private:
  [[noreturn]] void throw_too_large(size_t n, size_t elem) const;
  void release() noexcept;

  std::byte* base_ = nullptr;
  size_t capacity_ = 0;
  size_t mapped_ = 0;  // bytes mapped (capacity rounded up to pages), 0 if none
  size_t used_ = 0;
  size_t high_water_ = 0;
  uint64_t allocations_ = 0;
  std::string name_;
};

// Returns the arena to the position it had at construction when the scope
// ends, also when an exception leaves the scope.
class ArenaScope {
 public:
  explicit ArenaScope(Arena& arena) noexcept : arena_(arena), mark_(arena.mark()) {}
  // A mark beyond the position means someone reset the arena further back
  // inside the scope; there is nothing left to free then.
  ~ArenaScope() {
    if (mark_.offset <= arena_.used()) arena_.reset(mark_);
  }
  ArenaScope(const ArenaScope&) = delete;
  ArenaScope& operator=(const ArenaScope&) = delete;

 private:
  Arena& arena_;
  Arena::Mark mark_;
};

}  // namespace kiln::runtime
