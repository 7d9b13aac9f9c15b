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

}  // namespace kiln::cuda
