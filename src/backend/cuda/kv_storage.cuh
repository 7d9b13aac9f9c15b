#pragma once
// KV block storage in plain device memory (cudaMalloc). Host code cannot
// touch it (host_accessible() is false: KvCache::write/gather refuse it);
// tests read it back through BlockStorage::read, a device download. Managed
// memory was tried first and left the first step's q8_0 K/V unlike what the
// kernel wrote when the host read them (docs/cuda.md); the device notes advise
// against it as well. Block copies (copy-on-write) run on the device.
#include <memory>

#include "kv/block_storage.h"

namespace kiln::cuda {

class CudaBackend;
// flush: the owning backend (nullptr once it is gone), whose recorded but not
// yet launched ops run before any host access to the storage.
std::unique_ptr<kv::BlockStorage> make_device_kv_storage(size_t bytes, int group, int device, const void* owner,
                                                         std::shared_ptr<CudaBackend*> flush);

}  // namespace kiln::cuda
