#pragma once
// Shared by the CUDA backend's files: error checks that name the failing call,
// a growable device buffer for per-op workspaces, and launch helpers.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace kiln::cuda {

[[noreturn]] inline void throw_cuda(cudaError_t e, const char* call, const char* file, int line) {
  throw kiln::Error(std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ") in " + call +
                    " at " + file + ":" + std::to_string(line));
}

#define KILN_CUDA_CHECK(call)                                                       \
  do {                                                                              \
    const cudaError_t kiln_cuda_err_ = (call);                                      \
    if (kiln_cuda_err_ != cudaSuccess) ::kiln::cuda::throw_cuda(kiln_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

// A launch error (bad configuration) shows up at once; a fault inside the
// kernel shows up at the next synchronizing call (download()).
#define KILN_CUDA_LAUNCHED() KILN_CUDA_CHECK(cudaGetLastError())

// Device memory that only grows: workspaces whose size depends on the step
// (attention partials, f16 copies of activations) reach their largest size
// during warm-up, after which ensure() never allocates.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { release(); }
  // At least n bytes; the old contents are not kept. Synchronizes the device
  // before freeing memory a queued kernel may still use.
  void* ensure(size_t n) {
    if (n > bytes_) {
      release();
      KILN_CUDA_CHECK(cudaMalloc(&ptr_, n));
      bytes_ = n;
    }
    return ptr_;
  }
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void release() {
    if (ptr_) {
      cudaDeviceSynchronize();
      cudaFree(ptr_);
    }
    ptr_ = nullptr;
    bytes_ = 0;
  }
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

inline unsigned blocks_for(int64_t n, int per_block) { return unsigned((n + per_block - 1) / per_block); }

}  // namespace kiln::cuda
