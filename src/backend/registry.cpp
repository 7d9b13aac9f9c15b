#include "backend/registry.h"

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_backend.h"
#endif

namespace kiln::backend {

// "cuda" is listed only where a device is present, so that anything that
// enumerates backends (the op-level test) runs unchanged on CPU-only machines.
std::vector<std::string> available_backends() {
#ifdef KILN_HAVE_CUDA
  if (cuda::device_present()) return {"cuda", "cpu"};
#endif
  return {"cpu"};
}

std::string default_backend() { return available_backends().front(); }

bool is_device_backend(std::string_view name) { return name != "cpu"; }

std::optional<DeviceMemory> device_memory(std::string_view name) {
#ifdef KILN_HAVE_CUDA
  if (name == "cuda" && cuda::device_present()) {
    size_t free = 0, total = 0;
    if (cudaSetDevice(0) == cudaSuccess && cudaMemGetInfo(&free, &total) == cudaSuccess)
      return DeviceMemory{uint64_t(free), uint64_t(total)};
  }
#else
  (void)name;
#endif
  return std::nullopt;
}

std::unique_ptr<Backend> make_backend(std::string_view name, const BackendOptions& options) {
  if (name == "cpu") return std::make_unique<cpu::CpuBackend>(cpu::CpuBackendOptions{.threads = options.threads});
#ifdef KILN_HAVE_CUDA
  if (name == "cuda") return cuda::make_cuda_backend();
#endif
  std::string known;
  for (const std::string& n : available_backends()) known += (known.empty() ? "" : ", ") + n;
  throw kiln::Error("unknown backend '" + std::string(name) + "' (this build has: " + known + ")");
}

}  // namespace kiln::backend
