// avx2 matmul kernels (compiled with avx2 flags whatever the build options;
// matmul.cpp calls them only when the CPU has the features).
#include "backend/cpu/matmul_kernels.h"

namespace kiln::cpu::mm {

KernelFn avx2_kernel(GgmlType wt) {
  // No avx2 kernel yet for any type: matmul.cpp falls back to a lower ISA.
  (void)wt;
  return nullptr;
}

}  // namespace kiln::cpu::mm
