#pragma once
// Where a loaded model runs: on the GPU when there is one and the model fits
// in its free memory, else on the CPU, as Ollama decides by default. kiln
// offloads all layers or none: a num_gpu between 0 and the layer count
// (Ollama's partial offload) is refused with a message instead of being
// silently rounded either way.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "backend/registry.h"

namespace kiln::server {

enum class GpuRequest {
  kAuto,  // num_gpu -1 (the default): the GPU when the model fits there
  kAll,   // num_gpu >= the model's layers, or KILN_BACKEND names a GPU backend
  kNone,  // num_gpu 0, KILN_BACKEND=cpu, or no GPU in this build / machine
};

// What a request asks for. `configured` is KILN_BACKEND ("" when unset),
// `gpu` the backend a GPU request would use ("" when this machine has none),
// `n_layer` the model's layer count. Throws HttpError 400 for partial offload.
GpuRequest gpu_request(int num_gpu, int n_layer, std::string_view configured, std::string_view gpu);

struct Placement {
  std::string backend;      // "cpu", "cuda"
  uint64_t vram_bytes = 0;  // what /api/ps reports as size_vram
  std::string note;         // why, for the server log ("" when nothing to say)
};

// Device memory the model needs beyond its estimate (model_pool_load.cpp):
// the GEMM path's dequantized weight tile and f16 activations, cuBLAS's
// workspace and allocator slack.
inline constexpr uint64_t kDeviceOverheadBytes = uint64_t(512) << 20;

using DeviceMemoryQuery = std::function<std::optional<backend::DeviceMemory>(std::string_view)>;

// Decides the backend at load time from the device's free memory now (so
// models already loaded there count). kAll that does not fit is an HttpError
// 400 naming the sizes; kAuto that does not fit runs on the CPU (note says so).
Placement place_model(GpuRequest request, std::string_view gpu, uint64_t estimated_bytes,
                      const std::string& model_name, const DeviceMemoryQuery& query);

}  // namespace kiln::server
