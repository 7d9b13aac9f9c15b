#include "core/cpu_features.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace kiln::runtime {
namespace {

namespace fs = std::filesystem;

// The kernel's view of the CPU (/proc/cpuinfo "flags"), an independent
// reading of the same cpuid bits with the OS's own XSAVE decisions applied.
std::set<std::string> proc_cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      std::set<std::string> flags;
      for (std::string w; words >> w;) flags.insert(w);
      return flags;
    }
  }
  return {};
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

CpuFeatures avx512_machine() {
  CpuFeatures f;
  f.avx2 = f.fma = f.f16c = f.avx_vnni = true;
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512_vnni = f.avx512_bf16 = true;
  f.brand = "test cpu";
  return f;
}

TEST(CpuFeatures, DetectionAgreesWithTheKernel) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "x86-64 only";
#endif
  const auto flags = proc_cpuinfo_flags();
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags line";
  const CpuFeatures f = detect_cpu_features();
  EXPECT_EQ(f.avx2, flags.count("avx2") == 1);
  EXPECT_EQ(f.fma, flags.count("fma") == 1);
  EXPECT_EQ(f.f16c, flags.count("f16c") == 1);
  EXPECT_EQ(f.avx_vnni, flags.count("avx_vnni") == 1);
  EXPECT_EQ(f.avx512f, flags.count("avx512f") == 1);
  EXPECT_EQ(f.avx512bw, flags.count("avx512bw") == 1);
  EXPECT_EQ(f.avx512vl, flags.count("avx512vl") == 1);
  EXPECT_EQ(f.avx512_vnni, flags.count("avx512_vnni") == 1);
  EXPECT_EQ(f.avx512_bf16, flags.count("avx512_bf16") == 1);
  EXPECT_FALSE(f.brand.empty());
  EXPECT_TRUE(f.override.empty());
}

TEST(CpuFeatures, LevelNeedsEveryFeatureOfTheTier) {
  CpuFeatures f = avx512_machine();
  EXPECT_EQ(f.level(), CpuLevel::avx512);
  f.avx512vl = false;
  EXPECT_EQ(f.level(), CpuLevel::avx2);
  f.f16c = false;
  EXPECT_EQ(f.level(), CpuLevel::scalar);
}

TEST(CpuFeatures, OverrideCapsTheLevel) {
  const CpuFeatures hw = avx512_machine();
  const CpuFeatures scalar = apply_cpu_override(hw, "scalar");
  EXPECT_EQ(scalar.level(), CpuLevel::scalar);
  EXPECT_FALSE(scalar.avx2 || scalar.fma || scalar.f16c || scalar.avx_vnni || scalar.avx512f || scalar.avx512_vnni);
  EXPECT_EQ(scalar.override, "scalar");

  const CpuFeatures avx2 = apply_cpu_override(hw, "avx2");
  EXPECT_EQ(avx2.level(), CpuLevel::avx2);
  EXPECT_TRUE(avx2.avx2 && avx2.fma && avx2.f16c && avx2.avx_vnni);
  EXPECT_FALSE(avx2.avx512f || avx2.avx512bw || avx2.avx512vl || avx2.avx512_vnni || avx2.avx512_bf16);

  CpuFeatures same = apply_cpu_override(hw, "avx512");
  same.override.clear();
  EXPECT_EQ(same, hw);
  CpuFeatures native = apply_cpu_override(hw, " native ");
  EXPECT_EQ(native.override, "native");
  native.override.clear();
  EXPECT_EQ(native, hw);
}

TEST(CpuFeatures, OverrideRemovesSingleFeatures) {
  const CpuFeatures f = apply_cpu_override(avx512_machine(), "avx512,-avx512_vnni,-avx_vnni");
  EXPECT_EQ(f.level(), CpuLevel::avx512);
  EXPECT_FALSE(f.avx512_vnni);
  EXPECT_FALSE(f.avx_vnni);
  EXPECT_TRUE(f.avx512_bf16);
  // Removing a tier's required feature lowers the level.
  EXPECT_EQ(apply_cpu_override(avx512_machine(), "-avx512bw").level(), CpuLevel::avx2);
}

TEST(CpuFeatures, OverrideRejectsWhatItCannotDo) {
  CpuFeatures avx2_only;
  avx2_only.avx2 = avx2_only.fma = avx2_only.f16c = true;
  try {
    apply_cpu_override(avx2_only, "avx512");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("avx512"), std::string::npos) << e.what();
  }
  EXPECT_THROW(apply_cpu_override(avx512_machine(), "sse9"), Error);
  EXPECT_THROW(apply_cpu_override(avx512_machine(), "-avx1024"), Error);
  EXPECT_THROW(apply_cpu_override(avx512_machine(), "avx2,,"), Error);
  EXPECT_THROW(apply_cpu_override(avx512_machine(), ""), Error);
}

TEST(CpuFeatures, HostFeaturesFollowKilnCpu) {
  const CpuFeatures hw = detect_cpu_features();
  {
    ScopedEnv env("KILN_CPU", nullptr);
    EXPECT_EQ(host_cpu_features(), hw);
  }
  {
    ScopedEnv env("KILN_CPU", "scalar");
    const CpuFeatures f = host_cpu_features();
    EXPECT_EQ(f.level(), CpuLevel::scalar);
    EXPECT_NE(f.summary().find("KILN_CPU=scalar"), std::string::npos);
  }
  if (hw.level() >= CpuLevel::avx2) {
    ScopedEnv env("KILN_CPU", "avx2");
    EXPECT_EQ(host_cpu_features().level(), CpuLevel::avx2);
  }
  {
    ScopedEnv env("KILN_CPU", "turbo");
    EXPECT_THROW(host_cpu_features(), Error);
  }
}

TEST(CpuFeatures, SummaryIsOneLineNamingLevelAndFeatures) {
  const std::string s = avx512_machine().summary();
  EXPECT_EQ(s, "cpu: test cpu | level avx512 | avx2 fma f16c avx_vnni avx512f avx512bw avx512vl "
               "avx512_vnni avx512_bf16");
  EXPECT_EQ(CpuFeatures{}.summary(), "cpu: unknown | level scalar | (no SIMD extensions used)");
  EXPECT_EQ(detect_cpu_features().summary().find('\n'), std::string::npos);
}

// A fake /sys/devices/system/cpu tree.
class FakeSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("kiln_sysfs_" + std::to_string(getpid()));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void add_cpu(int cpu, const std::string& file, const std::string& siblings) {
    fs::path dir = root_ / ("cpu" + std::to_string(cpu)) / "topology";
    fs::create_directories(dir);
    std::ofstream(dir / file) << siblings << "\n";
  }
  fs::path root_;
};

TEST_F(FakeSysfs, HyperthreadSiblingsCountOnce) {
  // 2 cores x 2 threads: cpu0+cpu2 share a core, cpu1+cpu3 the other.
  add_cpu(0, "core_cpus_list", "0,2");
  add_cpu(1, "core_cpus_list", "1,3");
  add_cpu(2, "core_cpus_list", "0,2");
  add_cpu(3, "core_cpus_list", "1,3");
  const std::vector<int> all = {0, 1, 2, 3};
  EXPECT_EQ(count_physical_cores(root_, all), 2);
  // An affinity mask of one thread per core, or both threads of one core.
  EXPECT_EQ(count_physical_cores(root_, std::vector<int>{0, 1}), 2);
  EXPECT_EQ(count_physical_cores(root_, std::vector<int>{0, 2}), 1);
}

TEST_F(FakeSysfs, OlderKernelsUseThreadSiblingsList) {
  add_cpu(0, "thread_siblings_list", "0-1");
  add_cpu(1, "thread_siblings_list", "0-1");
  add_cpu(2, "thread_siblings_list", "2-3");
  add_cpu(3, "thread_siblings_list", "2-3");
  EXPECT_EQ(count_physical_cores(root_, std::vector<int>{0, 1, 2, 3}), 2);
}

TEST_F(FakeSysfs, MissingTopologyFallsBackToLogicalCpus) {
  add_cpu(0, "core_cpus_list", "0");
  EXPECT_EQ(count_physical_cores(root_, std::vector<int>{0, 1, 2}), 3);
  EXPECT_EQ(count_physical_cores(root_, std::vector<int>{}), 1);
}

TEST(CpuFeatures, PhysicalCoresMatchProcCpuinfo) {
  // /proc/cpuinfo pairs ("physical id", "core id") per logical CPU: another
  // route to the same count, used when every online CPU is ours.
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  const int cores = physical_core_count();
  EXPECT_GE(cores, 1);
  EXPECT_LE(cores, CPU_COUNT(&set));
  if (CPU_COUNT(&set) != online) GTEST_SKIP() << "affinity mask is narrower than the online CPUs";
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> pairs;
  std::string line, package;
  while (std::getline(in, line)) {
    auto value = [&] { return line.substr(line.find(':') + 1); };
    if (line.rfind("physical id", 0) == 0) package = value();
    if (line.rfind("core id", 0) == 0) pairs.emplace(package, value());
  }
  if (pairs.empty()) GTEST_SKIP() << "/proc/cpuinfo has no core ids";
  EXPECT_EQ(cores, int(pairs.size()));
}

}  // namespace
}  // namespace kiln::runtime
