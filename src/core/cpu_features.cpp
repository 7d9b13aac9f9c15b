#include "core/cpu_features.h"

#include <sched.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>
#include <vector>

#include "core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KILN_X86 1
#endif

namespace kiln::runtime {
namespace {

// Every feature flag by the name used in summaries and in KILN_CPU removals.
struct FeatureName {
  std::string_view name;
  bool CpuFeatures::*flag;
};
constexpr std::array kFeatureNames = {
    FeatureName{"avx2", &CpuFeatures::avx2},
    FeatureName{"fma", &CpuFeatures::fma},
    FeatureName{"f16c", &CpuFeatures::f16c},
    FeatureName{"avx_vnni", &CpuFeatures::avx_vnni},
    FeatureName{"avx512f", &CpuFeatures::avx512f},
    FeatureName{"avx512bw", &CpuFeatures::avx512bw},
    FeatureName{"avx512vl", &CpuFeatures::avx512vl},
    FeatureName{"avx512_vnni", &CpuFeatures::avx512_vnni},
    FeatureName{"avx512_bf16", &CpuFeatures::avx512_bf16},
};

void clear_avx512(CpuFeatures& f) {
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512_vnni = f.avx512_bf16 = false;
}

void clear_all(CpuFeatures& f) {
  clear_avx512(f);
  f.avx2 = f.fma = f.f16c = f.avx_vnni = false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

#ifdef KILN_X86
struct Regs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Regs cpuid(uint32_t leaf, uint32_t subleaf) {
  Regs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return Regs{};
  return r;
}

// xgetbv through inline asm: the _xgetbv intrinsic needs -mxsave, and this
// file must compile for any x86-64 target.
uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

bool bit(uint32_t word, int n) { return (word >> n) & 1u; }

std::string brand_string() {
  if (cpuid(0x80000000u, 0).eax < 0x80000004u) return "unknown x86-64";
  std::string s;
  for (uint32_t leaf = 0x80000002u; leaf <= 0x80000004u; ++leaf) {
    Regs r = cpuid(leaf, 0);
    for (uint32_t word : {r.eax, r.ebx, r.ecx, r.edx})
      for (int i = 0; i < 4; ++i) s.push_back(char((word >> (8 * i)) & 0xff));
  }
  s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
  return std::string(trim(s));
}
#endif

}  // namespace

std::string_view cpu_level_name(CpuLevel level) {
  switch (level) {
    case CpuLevel::scalar: return "scalar";
    case CpuLevel::avx2: return "avx2";
    case CpuLevel::avx512: return "avx512";
  }
  return "scalar";
}

CpuLevel CpuFeatures::level() const {
  bool has_avx2 = avx2 && fma && f16c;
  if (has_avx2 && avx512f && avx512bw && avx512vl) return CpuLevel::avx512;
  if (has_avx2) return CpuLevel::avx2;
  return CpuLevel::scalar;
}

std::string CpuFeatures::summary() const {
  std::string s = "cpu: " + (brand.empty() ? std::string("unknown") : brand);
  s += " | level ";
  s += cpu_level_name(level());
  s += " |";
  bool any = false;
  for (const auto& f : kFeatureNames) {
    if (this->*f.flag) {
      s += ' ';
      s += f.name;
      any = true;
    }
  }
  if (!any) s += " (no SIMD extensions used)";
  if (!override.empty()) s += " | KILN_CPU=" + override;
  return s;
}

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#ifdef KILN_X86
  f.brand = brand_string();
  const uint32_t max_leaf = cpuid(0, 0).eax;
  const Regs l1 = cpuid(1, 0);
  // OSXSAVE (leaf 1 ECX bit 27) says xgetbv may be executed at all.
  const bool osxsave = bit(l1.ecx, 27);
  const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM
  const bool avx = bit(l1.ecx, 28) && os_ymm;

  f.fma = avx && bit(l1.ecx, 12);
  f.f16c = avx && bit(l1.ecx, 29);
  if (max_leaf >= 7) {
    const Regs l7 = cpuid(7, 0);
    const Regs l7s1 = l7.eax >= 1 ? cpuid(7, 1) : Regs{};
    f.avx2 = avx && bit(l7.ebx, 5);
    f.avx_vnni = avx && bit(l7s1.eax, 4);
    f.avx512f = os_zmm && bit(l7.ebx, 16);
    f.avx512bw = f.avx512f && bit(l7.ebx, 30);
    f.avx512vl = f.avx512f && bit(l7.ebx, 31);
    f.avx512_vnni = f.avx512f && bit(l7.ecx, 11);
    f.avx512_bf16 = f.avx512f && bit(l7s1.eax, 5);
  }
#else
  f.brand = "non-x86 CPU";
#endif
  return f;
}

CpuFeatures apply_cpu_override(CpuFeatures hw, std::string_view spec) {
  CpuFeatures f = hw;
  f.override = std::string(trim(spec));
  std::string_view rest = f.override;
  if (rest.empty()) throw Error("KILN_CPU is set but empty; use scalar, avx2, avx512 or native");
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (item.empty()) throw Error("KILN_CPU='" + f.override + "' has an empty item");
    if (item.front() == '-') {
      std::string_view name = item.substr(1);
      bool found = false;
      for (const auto& fn : kFeatureNames) {
        if (fn.name == name) {
          f.*fn.flag = false;
          found = true;
        }
      }
      if (!found) {
        std::string known;
        for (const auto& fn : kFeatureNames) known += (known.empty() ? "" : ", ") + std::string(fn.name);
        throw Error("KILN_CPU: unknown feature '" + std::string(name) + "' (known: " + known + ")");
      }
      continue;
    }
    CpuLevel want;
    if (item == "native") continue;
    if (item == "scalar") want = CpuLevel::scalar;
    else if (item == "avx2") want = CpuLevel::avx2;
    else if (item == "avx512") want = CpuLevel::avx512;
    else
      throw Error("KILN_CPU: unknown item '" + std::string(item) +
                  "' (expected scalar, avx2, avx512, native, or -<feature>)");
    if (want > hw.level()) {
      throw Error("KILN_CPU=" + std::string(item) + " asks for more than this CPU supports (" +
                  std::string(cpu_level_name(hw.level())) + ": " + hw.summary() + ")");
    }
    if (want < CpuLevel::avx512) clear_avx512(f);
    if (want < CpuLevel::avx2) clear_all(f);
  }
  return f;
}

CpuFeatures host_cpu_features() {
  CpuFeatures f = detect_cpu_features();
  if (const char* spec = std::getenv("KILN_CPU")) return apply_cpu_override(std::move(f), spec);
  return f;
}

int count_physical_cores(const std::filesystem::path& sys_cpu_dir, std::span<const int> cpus) {
  // Two logical CPUs are one core when they list the same sibling set. The
  // file is core_cpus_list on kernels >= 5.5, thread_siblings_list before.
  std::set<std::string> cores;
  for (int cpu : cpus) {
    const auto topo = sys_cpu_dir / ("cpu" + std::to_string(cpu)) / "topology";
    std::string siblings;
    for (const char* name : {"core_cpus_list", "thread_siblings_list"}) {
      std::ifstream in(topo / name);
      if (in && std::getline(in, siblings)) break;
      siblings.clear();
    }
    if (trim(siblings).empty()) return std::max<int>(1, int(cpus.size()));  // /sys does not say
    cores.insert(std::string(trim(siblings)));
  }
  return std::max<int>(1, int(cores.size()));
}

int physical_core_count() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) cpus.push_back(i);
  }
  if (cpus.empty()) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (long i = 0; i < std::max(1L, n); ++i) cpus.push_back(int(i));
  }
  return count_physical_cores("/sys/devices/system/cpu", cpus);
}

}  // namespace kiln::runtime
