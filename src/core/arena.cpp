#include "core/arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace kiln::runtime {
namespace {

std::string mib(size_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f MiB", double(bytes) / (1024.0 * 1024.0));
  return buf;
}

}  // namespace

// The block comes from mmap rather than operator new: it is page-aligned (so
// 64-byte aligned), large blocks can use transparent huge pages (fewer TLB
// misses when kernels stream activations), and it does not count as a heap
// allocation.
Arena::Arena(size_t capacity, std::string name, bool prefault) : capacity_(capacity), name_(std::move(name)) {
  if (capacity_ == 0) return;
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  if (capacity_ > SIZE_MAX - page) throw Error("arena '" + name_ + "': capacity " + std::to_string(capacity) + " bytes is too large");
  mapped_ = (capacity_ + page - 1) / page * page;
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | (prefault ? MAP_POPULATE : 0);
  void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    mapped_ = 0;
    throw Error("arena '" + name_ + "': cannot reserve " + mib(capacity_) + ": " + std::strerror(err));
  }
  constexpr size_t kHugePage = size_t(2) << 20;
  if (mapped_ >= kHugePage) madvise(p, mapped_, MADV_HUGEPAGE);  // a hint; failure is harmless
  base_ = static_cast<std::byte*>(p);
}

Arena::~Arena() { release(); }

void Arena::release() noexcept {
  if (base_ && mapped_) munmap(base_, mapped_);
  base_ = nullptr;
  mapped_ = 0;
}

Arena::Arena(Arena&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      mapped_(std::exchange(other.mapped_, 0)),
      used_(std::exchange(other.used_, 0)),
      high_water_(std::exchange(other.high_water_, 0)),
      allocations_(std::exchange(other.allocations_, 0)),
      name_(std::move(other.name_)) {}

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this != &other) {
    release();
    base_ = std::exchange(other.base_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
    used_ = std::exchange(other.used_, 0);
    high_water_ = std::exchange(other.high_water_, 0);
    allocations_ = std::exchange(other.allocations_, 0);
    name_ = std::move(other.name_);
  }
  return *this;
}

void* Arena::allocate(size_t bytes, size_t align) {
  if (align == 0 || (align & (align - 1)) != 0)
    throw Error("arena '" + name_ + "': alignment " + std::to_string(align) + " is not a power of two");
  // Align the address, not the offset: the base is page-aligned, but an
  // alignment above the page size must still hold.
  const uintptr_t base = reinterpret_cast<uintptr_t>(base_);
  const uintptr_t here = base + used_;
  const uintptr_t aligned = (here + (align - 1)) & ~uintptr_t(align - 1);
  const size_t padding = aligned - here;
  const size_t left = capacity_ - used_;
  if (aligned < here || padding > left || bytes > left - padding) {
    throw ArenaExhausted("arena '" + name_ + "' is full: a request of " + std::to_string(bytes) +
                             " bytes (align " + std::to_string(align) + ") does not fit; " +
                             std::to_string(used_) + " of " + std::to_string(capacity_) + " bytes in use, " +
                             std::to_string(left) + " free (" + mib(left) +
                             "); the arena is sized at model load and never grows",
                         bytes, left);
  }
  used_ += padding + bytes;
  if (used_ > high_water_) high_water_ = used_;
  ++allocations_;
  return reinterpret_cast<void*>(aligned);
}

void Arena::reset(Mark m) {
  if (m.offset > used_) {
    throw Error("arena '" + name_ + "': reset to offset " + std::to_string(m.offset) +
                " beyond the current position " + std::to_string(used_) + " (stale or foreign mark)");
  }
  used_ = m.offset;
}

bool Arena::owns(const void* p) const noexcept {
  auto b = reinterpret_cast<uintptr_t>(base_);
  auto q = reinterpret_cast<uintptr_t>(p);
  return base_ && q >= b && q < b + capacity_;
}

void Arena::throw_too_large(size_t n, size_t elem) const {
  throw ArenaExhausted("arena '" + name_ + "': an array of " + std::to_string(n) + " elements of " +
                           std::to_string(elem) + " bytes overflows size_t",
                       SIZE_MAX, available());
}

}  // namespace kiln::runtime
