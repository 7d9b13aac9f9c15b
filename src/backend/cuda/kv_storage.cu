#include "backend/cuda/kv_storage.cuh"

#include <string>

#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_backend_impl.cuh"

namespace kiln::cuda {

namespace {

class DeviceKvStorage final : public kv::BlockStorage {
 public:
  DeviceKvStorage(size_t bytes, int group, const void* owner, std::shared_ptr<CudaBackend*> flush)
      : owner_(owner), flush_(std::move(flush)) {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();  // clear the sticky allocation error
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      throw kiln::Error("KV cache layer group " + std::to_string(group) + " needs " + std::to_string(bytes >> 20) +
                        " MiB of GPU memory, " + std::to_string(free_bytes >> 20) + " MiB are free (" +
                        cudaGetErrorString(e) + ")");
    }
    data_ = static_cast<uint8_t*>(p);
    bytes_ = bytes;
  }
  ~DeviceKvStorage() override {
    cudaDeviceSynchronize();
    cudaFree(data_);
  }
  bool host_accessible() const override { return false; }
  const void* owner() const override { return owner_; }
  // The backend's kernels run on a non-blocking stream, which the legacy
  // stream of cudaMemcpy does not wait for: synchronize the device around
  // these (rare: copy-on-write, the move in, test read-backs).
  void copy(size_t dst_offset, size_t src_offset, size_t n) override {
    flush();
    KILN_CUDA_CHECK(cudaDeviceSynchronize());
    KILN_CUDA_CHECK(cudaMemcpy(data_ + dst_offset, data_ + src_offset, n, cudaMemcpyDeviceToDevice));
    KILN_CUDA_CHECK(cudaDeviceSynchronize());
  }
  void copy_from_host(const uint8_t* src, size_t n) override {
    flush();
    KILN_CUDA_CHECK(cudaDeviceSynchronize());
    KILN_CUDA_CHECK(cudaMemcpy(data_, src, n, cudaMemcpyHostToDevice));
  }
  void read(size_t offset, size_t n, uint8_t* dst) const override {
    flush();
    KILN_CUDA_CHECK(cudaDeviceSynchronize());
    KILN_CUDA_CHECK(cudaMemcpy(dst, data_ + offset, n, cudaMemcpyDeviceToHost));
  }

 private:
  // Ops the backend recorded for a CUDA graph have not run yet.
  void flush() const {
    if (flush_ && *flush_) (*flush_)->flush();
  }
  const void* owner_;
  std::shared_ptr<CudaBackend*> flush_;
};

}  // namespace

std::unique_ptr<kv::BlockStorage> make_device_kv_storage(size_t bytes, int group, int /*device*/, const void* owner,
                                                         std::shared_ptr<CudaBackend*> flush) {
  return std::make_unique<DeviceKvStorage>(bytes, group, owner, std::move(flush));
}

}  // namespace kiln::cuda
