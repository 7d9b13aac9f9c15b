#pragma once
// Number of heap allocations (operator new) made so far by this test binary;
// alloc_counter.cpp replaces the global operator new to count them.
#include <cstdint>

namespace kiln::kv::testing {
int64_t heap_allocations();
}
