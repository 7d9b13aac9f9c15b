#pragma once
// What the CPU we run on can do, detected at run time, so one binary carries
// scalar, AVX2 and AVX-512 kernels and picks among them at load.
//
// Detection asks cpuid what the silicon has and xgetbv what the OS saves on a
// context switch: AVX needs XCR0 bits 1-2 (SSE+YMM state), AVX-512 also bits
// 5-7 (opmask + ZMM state). A feature the OS does not save is reported absent.
//
// KILN_CPU lowers what kiln uses (never raises it), so tests and benchmarks can
// force each kernel path on one machine:
//   KILN_CPU=scalar | avx2 | avx512 | native    a level (cap)
//   KILN_CPU=avx512,-avx512_vnni                 a level, then features removed
// Asking for a level this CPU lacks, or an unknown word, is a kiln::Error.
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace kiln::runtime {

// Kernel tiers, ordered: a higher level implies every lower one.
enum class CpuLevel { scalar = 0, avx2 = 1, avx512 = 2 };
std::string_view cpu_level_name(CpuLevel level);

struct CpuFeatures {
  // AVX2 tier: 256-bit integer + float SIMD, fused multiply-add, f16<->f32.
  bool avx2 = false, fma = false, f16c = false;
  // VEX-encoded int8 dot products (vpdpbusd on ymm without AVX-512).
  bool avx_vnni = false;
  // AVX-512 tier and its extensions used by quantized kernels.
  bool avx512f = false, avx512bw = false, avx512vl = false;
  bool avx512_vnni = false, avx512_bf16 = false;

  std::string brand;     // cpuid brand string, e.g. "AMD EPYC 9B14"
  std::string override;  // the KILN_CPU value applied, empty if none

  // Highest level whose every required feature is present:
  // avx2 = AVX2+FMA+F16C; avx512 = avx2 + AVX-512 F/BW/VL.
  CpuLevel level() const;
  // One line for logs: brand, level, features, override.
  std::string summary() const;
  bool operator==(const CpuFeatures&) const = default;
};

// What the hardware and OS support, ignoring KILN_CPU.
CpuFeatures detect_cpu_features();
// `hw` lowered by a KILN_CPU-style spec (grammar above). Throws kiln::Error.
CpuFeatures apply_cpu_override(CpuFeatures hw, std::string_view spec);
// detect_cpu_features() with $KILN_CPU applied when set. Not cached: callers
// (the backend) keep the result; tests may change KILN_CPU between calls.
CpuFeatures host_cpu_features();

// Physical cores this process may run on: CPUs in the affinity mask, grouped by
// the core they sit on (hyperthread siblings count once), read from
// /sys/devices/system/cpu. Falls back to the logical CPU count when /sys does
// not say. Always >= 1.
int physical_core_count();
// The same count for a given sysfs cpu directory and CPU list (for tests).
int count_physical_cores(const std::filesystem::path& sys_cpu_dir, std::span<const int> cpus);

}  // namespace kiln::runtime
