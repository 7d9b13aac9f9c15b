#pragma once
// The backends this build carries, by name, so that the engine, the CLI and
// the op-level test can pick or enumerate them without knowing their types.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"

namespace kiln::backend {

struct BackendOptions {
  int threads = 0;  // CPU threads (caller included); 0 = physical cores
};

// Names of the backends compiled in, best first ("cpu" always).
std::vector<std::string> available_backends();
// What a model runs on when nobody names a backend: the first of
// available_backends(), i.e. the GPU where one is visible, else "cpu".
std::string default_backend();
// Whether `name` keeps weights and KV in its own device memory (every
// backend but "cpu").
bool is_device_backend(std::string_view name);

struct DeviceMemory {
  uint64_t free = 0;
  uint64_t total = 0;
};
// Free and total memory of the device behind backend `name` now, as its
// driver reports it; nullopt for host backends and when no device is
// visible.
std::optional<DeviceMemory> device_memory(std::string_view name);

// A new backend by name; kiln::Error naming the backend if unknown.
std::unique_ptr<Backend> make_backend(std::string_view name, const BackendOptions& options = {});

}  // namespace kiln::backend
