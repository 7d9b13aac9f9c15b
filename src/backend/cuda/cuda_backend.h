#pragma once
// The CUDA backend, seen from plain C++ (no CUDA headers): the registry and
// tests create it through these two functions. The class itself lives in
// backend/cuda/cuda_backend_impl.cuh; kernels in the .cu files beside it.
#include <memory>

#include "backend/backend.h"

namespace kiln::cuda {

// Whether a CUDA device is visible to this process (false without a driver
// or GPU: a build with CUDA still runs on CPU-only machines).
bool device_present();

// A backend on device 0. Throws kiln::Error when no device is present.
std::unique_ptr<backend::Backend> make_cuda_backend();

// How a CUDA backend's steps ran (KILN_CUDA_GRAPHS, docs/cuda.md): graph
// replays, graphs captured (instantiated), graphs updated in place, and
// recorded segments that left graph mode and ran op by op. Zeros for a
// backend that is not the CUDA one.
struct GraphCounts {
  long replays = 0, captures = 0, updates = 0, eager_segments = 0;
};
GraphCounts graph_counts(const backend::Backend& be);

}  // namespace kiln::cuda
