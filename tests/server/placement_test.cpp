// Where the pool puts a model (server/placement.h): the GPU when one is
// visible and the model fits its free memory now, else the CPU; num_gpu 0
// and KILN_BACKEND=cpu force the CPU; an explicit GPU request that does not
// fit and partial offload are refused with a message naming the sizes. The
// device's memory is a fake here, so this runs on machines without a GPU.
#include "server/placement.h"

#include <gtest/gtest.h>

#include "server/http_error.h"

namespace kiln::server {
namespace {

constexpr uint64_t GiB = uint64_t(1) << 30;

DeviceMemoryQuery free_gib(double free, double total = 80) {
  return [=](std::string_view name) -> std::optional<backend::DeviceMemory> {
    if (name != "cuda") return std::nullopt;
    return backend::DeviceMemory{uint64_t(free * double(GiB)), uint64_t(total * double(GiB))};
  };
}

TEST(Placement, RequestFromNumGpuAndBackend) {
  EXPECT_EQ(gpu_request(-1, 32, "", "cuda"), GpuRequest::kAuto);
  EXPECT_EQ(gpu_request(32, 32, "", "cuda"), GpuRequest::kAll);
  EXPECT_EQ(gpu_request(999, 32, "", "cuda"), GpuRequest::kAll);
  EXPECT_EQ(gpu_request(-1, 32, "cuda", "cuda"), GpuRequest::kAll);  // KILN_BACKEND=cuda insists
  EXPECT_EQ(gpu_request(0, 32, "", "cuda"), GpuRequest::kNone);
  EXPECT_EQ(gpu_request(0, 32, "cuda", "cuda"), GpuRequest::kNone);
  EXPECT_EQ(gpu_request(-1, 32, "cpu", ""), GpuRequest::kNone);
  EXPECT_EQ(gpu_request(999, 32, "cpu", ""), GpuRequest::kNone);
  // No GPU on this machine: num_gpu is ignored, as in Ollama.
  EXPECT_EQ(gpu_request(12, 32, "", ""), GpuRequest::kNone);
}

TEST(Placement, PartialOffloadIsRefusedWithTheLayerCount) {
  try {
    gpu_request(12, 32, "", "cuda");
    FAIL() << "no error";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(std::string(e.what()).find("partial offload"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("32 layers"), std::string::npos) << e.what();
  }
}

TEST(Placement, AutoTakesTheGpuWhenTheModelFits) {
  const Placement p = place_model(GpuRequest::kAuto, "cuda", 5 * GiB, "m", free_gib(20));
  EXPECT_EQ(p.backend, "cuda");
  EXPECT_EQ(p.vram_bytes, 5 * GiB);
  EXPECT_EQ(p.note, "");
}

TEST(Placement, AutoFallsBackToTheCpuWithANote) {
  // 5 GiB + the overhead does not fit in 5 GiB free.
  const Placement p = place_model(GpuRequest::kAuto, "cuda", 5 * GiB, "big", free_gib(5));
  EXPECT_EQ(p.backend, "cpu");
  EXPECT_EQ(p.vram_bytes, 0u);
  EXPECT_NE(p.note.find("'big' runs on the CPU"), std::string::npos) << p.note;
  EXPECT_NE(p.note.find("5.0 GiB free of 80.0 GiB"), std::string::npos) << p.note;
  // The overhead counts: exactly the estimate free is not enough.
  EXPECT_EQ(place_model(GpuRequest::kAuto, "cuda", 5 * GiB, "m", free_gib(5.4)).backend, "cpu");
  EXPECT_EQ(place_model(GpuRequest::kAuto, "cuda", 5 * GiB, "m", free_gib(5.6)).backend, "cuda");
}

TEST(Placement, AllThatDoesNotFitIsAClearError) {
  try {
    place_model(GpuRequest::kAll, "cuda", 9 * GiB, "llama3:8b", free_gib(4, 24));
    FAIL() << "no error";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 400);
    const std::string m = e.what();
    EXPECT_NE(m.find("'llama3:8b' needs 9.5 GiB of GPU memory"), std::string::npos) << m;
    EXPECT_NE(m.find("4.0 GiB free of 24.0 GiB"), std::string::npos) << m;
    EXPECT_NE(m.find("num_gpu 0"), std::string::npos) << m;
  }
  EXPECT_EQ(place_model(GpuRequest::kAll, "cuda", 9 * GiB, "m", free_gib(10)).backend, "cuda");
}

TEST(Placement, NoneNeverAsksTheDevice) {
  bool asked = false;
  const DeviceMemoryQuery q = [&](std::string_view) -> std::optional<backend::DeviceMemory> {
    asked = true;
    return std::nullopt;
  };
  const Placement p = place_model(GpuRequest::kNone, "cuda", GiB, "m", q);
  EXPECT_EQ(p.backend, "cpu");
  EXPECT_FALSE(asked);
}

TEST(Placement, UnreadableDeviceMemory) {
  const DeviceMemoryQuery none = [](std::string_view) { return std::optional<backend::DeviceMemory>(); };
  EXPECT_EQ(place_model(GpuRequest::kAuto, "cuda", GiB, "m", none).backend, "cpu");
  EXPECT_THROW(place_model(GpuRequest::kAll, "cuda", GiB, "m", none), HttpError);
}

TEST(Placement, ThisMachinesDefaultBackendIsAvailable) {
  const auto known = backend::available_backends();
  EXPECT_EQ(backend::default_backend(), known.front());
  EXPECT_FALSE(backend::is_device_backend("cpu"));
  EXPECT_TRUE(backend::is_device_backend("cuda"));
  EXPECT_FALSE(backend::device_memory("cpu").has_value());
}

}  // namespace
}  // namespace kiln::server
