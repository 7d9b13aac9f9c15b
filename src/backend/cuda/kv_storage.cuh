#pragma once
// KV block storage in CUDA managed memory that prefers the device: kernels
// read it at device bandwidth once its pages live there, while host code that
// inspects the cache (KvCache::write/gather in reference tests) still works,
// migrating pages on access. Block copies (copy-on-write) run on the device.
#include <memory>

#include "kv/block_storage.h"

namespace kiln::cuda {

std::unique_ptr<kv::BlockStorage> make_device_kv_storage(size_t bytes, int group, int device, const void* owner);

}  // namespace kiln::cuda
