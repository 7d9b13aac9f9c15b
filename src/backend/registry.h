#pragma once
// The backends this build carries, by name, so that the engine, the CLI and
// the op-level test can pick or enumerate them without knowing their types.
#include <memory>
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
// A new backend by name; kiln::Error naming the backend if unknown.
std::unique_ptr<Backend> make_backend(std::string_view name, const BackendOptions& options = {});

}  // namespace kiln::backend
