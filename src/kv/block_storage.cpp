#include "kv/block_storage.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"

namespace kiln::kv {

namespace {

class HostStorage final : public BlockStorage {
 public:
  HostStorage(size_t bytes, int group_index) {
    // aligned_alloc wants a multiple of the alignment (block_bytes already is).
    const size_t rounded = (bytes + 63) / 64 * 64;
    data_ = static_cast<uint8_t*>(std::aligned_alloc(64, rounded));
    if (!data_)
      throw kiln::Error("cannot allocate " + std::to_string(bytes) + " bytes for KV cache layer group " +
                        std::to_string(group_index));
    bytes_ = bytes;
  }
  ~HostStorage() override { std::free(data_); }
  bool host_accessible() const override { return true; }
  void copy(size_t dst_offset, size_t src_offset, size_t n) override {
    std::memcpy(data_ + dst_offset, data_ + src_offset, n);
  }
  void copy_from_host(const uint8_t* src, size_t n) override { std::memcpy(data_, src, n); }
};

}  // namespace

void BlockStorage::read(size_t offset, size_t n, uint8_t* dst) const { std::memcpy(dst, data_ + offset, n); }

std::unique_ptr<BlockStorage> make_host_storage(size_t bytes, int group_index) {
  return std::make_unique<HostStorage>(bytes, group_index);
}

}  // namespace kiln::kv
