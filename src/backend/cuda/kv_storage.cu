#include "backend/cuda/kv_storage.cuh"

#include <string>

#include "backend/cuda/common.cuh"

namespace kiln::cuda {

namespace {

class ManagedKvStorage final : public kv::BlockStorage {
 public:
  ManagedKvStorage(size_t bytes, int group, int device, const void* owner) : device_(device), owner_(owner) {
    // Managed memory beyond what the card has free can hang the GPU instead
    // of failing: refuse it here with a clear error.
    size_t free_bytes = 0, total_bytes = 0;
    KILN_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (bytes > free_bytes / 10 * 9)
      throw kiln::Error("KV cache layer group " + std::to_string(group) + " needs " + std::to_string(bytes >> 20) +
                        " MiB of GPU memory, " + std::to_string(free_bytes >> 20) + " MiB are free");
    void* p = nullptr;
    const cudaError_t e = cudaMallocManaged(&p, bytes);
    if (e != cudaSuccess)
      throw kiln::Error("cannot allocate " + std::to_string(bytes) + " bytes of GPU memory for KV cache layer group " +
                        std::to_string(group) + ": " + cudaGetErrorString(e));
    data_ = static_cast<uint8_t*>(p);
    bytes_ = bytes;
#if CUDART_VERSION >= 13000
    cudaMemLocation loc{};
    loc.type = cudaMemLocationTypeDevice;
    loc.id = device;
    KILN_CUDA_CHECK(cudaMemAdvise(p, bytes, cudaMemAdviseSetPreferredLocation, loc));
#else
    KILN_CUDA_CHECK(cudaMemAdvise(p, bytes, cudaMemAdviseSetPreferredLocation, device));
#endif
  }
  ~ManagedKvStorage() override {
    cudaDeviceSynchronize();
    cudaFree(data_);
  }
  bool host_accessible() const override { return true; }
  const void* owner() const override { return owner_; }
  void copy(size_t dst_offset, size_t src_offset, size_t n) override {
    KILN_CUDA_CHECK(cudaMemcpy(data_ + dst_offset, data_ + src_offset, n, cudaMemcpyDefault));
  }
  void copy_from_host(const uint8_t* src, size_t n) override {
    KILN_CUDA_CHECK(cudaMemcpy(data_, src, n, cudaMemcpyDefault));
    // Move the pages to the device now rather than fault them in during the
    // first step's attention.
#if CUDART_VERSION >= 13000
    cudaMemLocation loc{};
    loc.type = cudaMemLocationTypeDevice;
    loc.id = device_;
    KILN_CUDA_CHECK(cudaMemPrefetchAsync(data_, bytes_, loc, 0, nullptr));
#else
    KILN_CUDA_CHECK(cudaMemPrefetchAsync(data_, bytes_, device_, nullptr));
#endif
    KILN_CUDA_CHECK(cudaDeviceSynchronize());
  }

 private:
  int device_;
  const void* owner_;
};

}  // namespace

std::unique_ptr<kv::BlockStorage> make_device_kv_storage(size_t bytes, int group, int device, const void* owner) {
  return std::make_unique<ManagedKvStorage>(bytes, group, device, owner);
}

}  // namespace kiln::cuda
