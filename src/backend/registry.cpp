#include "backend/registry.h"

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"

namespace kiln::backend {

std::vector<std::string> available_backends() { return {"cpu"}; }

std::unique_ptr<Backend> make_backend(std::string_view name, const BackendOptions& options) {
  if (name == "cpu") return std::make_unique<cpu::CpuBackend>(cpu::CpuBackendOptions{.threads = options.threads});
  std::string known;
  for (const std::string& n : available_backends()) known += (known.empty() ? "" : ", ") + n;
  throw kiln::Error("unknown backend '" + std::string(name) + "' (this build has: " + known + ")");
}

}  // namespace kiln::backend
