#pragma once
// y = x W^T for the CPU backend: the bridge from backend tensors to the
// matmul kernels (backend/cpu/matmul.h), with the kernels' working memory
// borrowed from the step arena, so a matmul allocates nothing.
#include "backend/backend.h"
#include "backend/cpu/matmul.h"
#include "core/arena.h"
#include "core/threadpool.h"

namespace kiln::cpu {

class PackedWeights;

// packed: w repacked at bind time (packed.h), or nullptr.
void linear(const backend::Tensor& x, const backend::Tensor& w, const PackedWeights* packed, backend::Tensor& y,
            MatmulIsa isa, runtime::ThreadPool& pool, runtime::Arena& arena);

}  // namespace kiln::cpu
