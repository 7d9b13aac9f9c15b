#include "backend/cpu/linear.h"

#include "backend/cpu/packed.h"

namespace kiln::cpu {

void linear(const backend::Tensor& x, const backend::Tensor& w, const PackedWeights* packed, backend::Tensor& y,
            MatmulIsa isa, runtime::ThreadPool& pool, runtime::Arena& arena) {
  runtime::ArenaScope scope(arena);
  const size_t bytes = matmul_scratch_bytes(w.type, x.rows, x.cols, pool.size());
  MatmulScratch scratch(isa, arena.allocate(bytes), bytes);
  if (packed)
    matmul(static_cast<const float*>(x.data), x.rows, x.cols, x.stride, *packed, static_cast<float*>(y.data), y.stride,
           pool, scratch);
  else
    matmul(static_cast<const float*>(x.data), x.rows, x.cols, x.stride, w.data, w.type, w.rows, w.stride,
           static_cast<float*>(y.data), y.stride, pool, scratch);
}

}  // namespace kiln::cpu
