#include "server/placement.h"

#include <cstdio>

#include "server/http_error.h"

namespace kiln::server {
namespace {

std::string gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", double(bytes) / double(uint64_t(1) << 30));
  return buf;
}

}  // namespace

GpuRequest gpu_request(int num_gpu, int n_layer, std::string_view configured, std::string_view gpu) {
  if (gpu.empty() || configured == "cpu" || num_gpu == 0) return GpuRequest::kNone;
  if (num_gpu > 0 && num_gpu < n_layer)
    throw bad_request("num_gpu " + std::to_string(num_gpu) + ": partial offload is not supported; this model has " +
                      std::to_string(n_layer) + " layers: use num_gpu -1 (GPU when it fits), " +
                      std::to_string(n_layer) + " or more (all on the GPU) or 0 (CPU)");
  if (num_gpu >= n_layer || !configured.empty()) return GpuRequest::kAll;
  return GpuRequest::kAuto;
}

Placement place_model(GpuRequest request, std::string_view gpu, uint64_t estimated_bytes,
                      const std::string& model_name, const DeviceMemoryQuery& query) {
  if (request == GpuRequest::kNone) return {"cpu", 0, ""};
  const uint64_t need = estimated_bytes + kDeviceOverheadBytes;
  const std::optional<backend::DeviceMemory> mem = query(gpu);
  const bool fits = mem && mem->free >= need;
  if (fits) return {std::string(gpu), estimated_bytes, ""};
  const std::string why = mem ? "needs " + gib(need) + " of GPU memory and " + std::string(gpu) + " has " +
                                    gib(mem->free) + " free of " + gib(mem->total)
                              : "cannot read the free memory of " + std::string(gpu);
  if (request == GpuRequest::kAll)
    throw bad_request("model '" + model_name + "' " + why +
                      ": lower num_ctx, unload other models, or set num_gpu 0 to run it on the CPU");
  return {"cpu", 0, "model '" + model_name + "' runs on the CPU: it " + why};
}

}  // namespace kiln::server
