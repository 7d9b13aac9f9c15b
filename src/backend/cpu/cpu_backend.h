#pragma once
// The CPU backend: ops run at once on a persistent thread pool, per-step
// tensors come from one arena reset by begin_step(), weights are used in place
// from the GGUF mapping. Matmuls go to kiln::cpu::matmul (backend/cpu/matmul.h);
// attention reads the paged KV cache (backend/cpu/attention.h).
#include <memory>
#include <string_view>
#include <unordered_map>

#include "backend/backend.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/packed.h"
#include "core/arena.h"
#include "core/threadpool.h"

namespace kiln::cpu {

struct CpuBackendOptions {
  int threads = 0;              // participants, the caller included; 0 = physical cores
  size_t scratch_bytes = 64u << 20;  // initial arena; reserve_scratch() resizes it at load
  // Repack Q4_0/Q5_0/Q8_0 weights at bind time into the 16-row interleaved
  // layout of packed.h (AVX-512 VNNI only). The environment variable
  // KILN_REPACK=0 turns the default off (for A/B measurements).
  bool repack = default_repack();
  static bool default_repack();
};

class CpuBackend final : public backend::Backend {
 public:
  using Tensor = backend::Tensor;

  explicit CpuBackend(CpuBackendOptions options = {});
  ~CpuBackend() override;

  std::string_view name() const override { return "cpu"; }
  Tensor bind_weight(const gguf::TensorInfo& info) override;
  void reserve_scratch(const backend::ScratchPlan& plan) override;
  void begin_step() override;
  Tensor scratch(int64_t rows, int64_t cols, GgmlType type = GgmlType::F32) override;
  void upload(const void* host, Tensor& dst) override;
  void download(const Tensor& src, void* host) override;

  void get_rows(const Tensor& table, const Tensor& ids, Tensor& out) override;
  void matmul(const Tensor& x, const Tensor& w, Tensor& y) override;
  void add_bias(Tensor& y, const Tensor& bias) override;
  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override;
  void rope(Tensor& x, const Tensor& positions, const backend::RopeParams& p) override;
  void add(const Tensor& a, const Tensor& b, Tensor& y) override;
  void scale(Tensor& x, float s) override;
  void glu(const Tensor& gate, const Tensor& up, backend::GluActivation act, Tensor& y) override;
  void softcap(Tensor& x, float cap) override;
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, kv::KvCache& cache, const kv::BatchMetadata& meta,
                 const backend::AttentionParams& p, Tensor& out) override;

  runtime::ThreadPool& pool() { return pool_; }
  runtime::Arena& arena() { return arena_; }
  MatmulIsa matmul_isa() const { return isa_; }

 private:
  // Splits rows [0, rows) into tasks worth about `min_work` values each and
  // runs fn(first, end) on the pool (inline when the whole op is small, where a
  // dispatch would cost more than the work).
  template <class F>
  void for_rows(int64_t rows, int64_t work_per_row, F&& fn);

  // The packed copy of a weight, if bind_weight made one. Keyed by the
  // weight's data pointer, which bound tensors keep pointing at (get_rows and
  // row views read the original rows); rebinding the same memory repacks it.
  const PackedWeights* packed_for(const Tensor& w) const;

  runtime::ThreadPool pool_;
  runtime::Arena arena_;
  MatmulIsa isa_;  // detected once: detection reads the environment and allocates
  bool repack_;
  std::unordered_map<const void*, std::unique_ptr<PackedWeights>> packed_;
};

}  // namespace kiln::cpu
