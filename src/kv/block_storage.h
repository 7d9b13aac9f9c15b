#pragma once
// The memory that holds one layer group's KV blocks. Host memory by default;
// a device backend replaces it (KvCache::move_storage) with memory its kernels
// can read, so the cache's bookkeeping stays in one place whatever holds the
// bytes. The pool only needs a base address and a block copy (copy-on-write).
#include <cstddef>
#include <cstdint>
#include <memory>

namespace kiln::kv {

class BlockStorage {
 public:
  virtual ~BlockStorage() = default;
  uint8_t* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  // Whether host code may read and write data() directly (KvCache::write and
  // gather, the CPU backend, the reference ops). Device-only memory is not.
  virtual bool host_accessible() const = 0;
  // Copies n bytes inside this storage (a copy-on-write block copy).
  virtual void copy(size_t dst_offset, size_t src_offset, size_t n) = 0;
  // Fills [0, n) from host memory (moving a cache's contents in).
  virtual void copy_from_host(const uint8_t* src, size_t n) = 0;
  // Copies n bytes at offset out to host memory. Works for every storage, so
  // tests and tools can inspect a cache that lives in device memory.
  virtual void read(size_t offset, size_t n, uint8_t* dst) const;
  // Who made it (a backend instance), so a backend can tell whether a cache
  // already lives in its memory; nullptr for plain host memory.
  virtual const void* owner() const { return nullptr; }

 protected:
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

// 64-byte aligned host memory; throws kiln::Error naming the group when the
// allocation fails.
std::unique_ptr<BlockStorage> make_host_storage(size_t bytes, int group_index);

}  // namespace kiln::kv
