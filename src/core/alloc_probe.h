#pragma once
// Replaces the global operator new/delete with counting versions (see
// core/alloc_counter.h for why). Include this header in EXACTLY ONE .cpp of a
// test or benchmark executable, never in library code: it defines the
// replacement functions themselves (they may not be inline), so a second
// inclusion is a "multiple definition of operator new" link error.
//
// The replacements keep the standard's semantics: the throwing forms loop on
// the new_handler and throw std::bad_alloc, the nothrow forms return null,
// aligned forms honour the requested alignment, and every delete form frees.
#ifdef KILN_ALLOC_PROBE_DEFINED
#error "core/alloc_probe.h included twice in one translation unit"
#endif
#define KILN_ALLOC_PROBE_DEFINED 1

#include <cstdlib>
#include <new>

#include "core/alloc_counter.h"

namespace kiln::runtime::alloc_probe_detail {
namespace {

// Registers the probe during static initialisation, before main() and so
// before any test constructs an AllocCounter.
[[maybe_unused]] const bool probe_registered = mark_installed();

void* counted_malloc(std::size_t size, std::size_t align) noexcept {
  if (size == 0) size = 1;  // operator new(0) must return a unique pointer
  void* p = nullptr;
  if (align <= alignof(std::max_align_t)) {
    p = std::malloc(size);
  } else if (posix_memalign(&p, align, size) != 0) {
    p = nullptr;
  }
  if (p) note_allocation(size);
  return p;
}

void* counted_new(std::size_t size, std::size_t align) {
  for (;;) {
    if (void* p = counted_malloc(size, align)) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

void counted_free(void* p) noexcept {
  if (!p) return;
  note_deallocation();
  std::free(p);
}

}  // namespace
}  // namespace kiln::runtime::alloc_probe_detail

namespace kiln_alloc_probe = kiln::runtime::alloc_probe_detail;

// Throwing forms.
void* operator new(std::size_t n) { return kiln_alloc_probe::counted_new(n, 0); }
void* operator new[](std::size_t n) { return kiln_alloc_probe::counted_new(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) {
  return kiln_alloc_probe::counted_new(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return kiln_alloc_probe::counted_new(n, static_cast<std::size_t>(a));
}
// Nothrow forms.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return kiln_alloc_probe::counted_new(n, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return kiln_alloc_probe::counted_new(n, 0);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return kiln_alloc_probe::counted_new(n, static_cast<std::size_t>(a));
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return kiln_alloc_probe::counted_new(n, static_cast<std::size_t>(a));
  } catch (...) {
    return nullptr;
  }
}
// Every delete form, sized and aligned ones included, frees the same way:
// malloc and posix_memalign memory are both released by free().
void operator delete(void* p) noexcept { kiln_alloc_probe::counted_free(p); }
void operator delete[](void* p) noexcept { kiln_alloc_probe::counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { kiln_alloc_probe::counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { kiln_alloc_probe::counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { kiln_alloc_probe::counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { kiln_alloc_probe::counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { kiln_alloc_probe::counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { kiln_alloc_probe::counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { kiln_alloc_probe::counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { kiln_alloc_probe::counted_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  kiln_alloc_probe::counted_free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  kiln_alloc_probe::counted_free(p);
}
