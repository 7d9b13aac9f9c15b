// matmul(): argument checks, scratch, kernel choice and the split of the work
// over the thread pool. The kernels themselves live in matmul_scalar.cpp,
// avx2/ and avx512/.
#include "backend/cpu/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "backend/cpu/matmul_kernels.h"
#include "backend/cpu/packed.h"
#include "core/error.h"
#include "core/quant/quant.h"

namespace kiln::cpu {

namespace {

// Weight bytes one task streams. Large enough that the shared task counter
// (tens of ns) is noise, small enough that two threads finish together.
constexpr size_t kTaskWeightBytes = size_t(32) << 10;
// Activation rows per prefill task: their int8 rows stay in L2 while the
// task's weight rows are reused across them.
constexpr int64_t kTaskRows = 64;
// Below this many multiply-adds one thread does the whole call: waking the
// other costs more than it saves.
constexpr int64_t kMinParallelWork = 1 << 16;

mm::KernelFn pick_kernel(MatmulIsa isa, GgmlType wt) {
  mm::KernelFn fn = nullptr;
  if (isa >= MatmulIsa::avx512) fn = mm::avx512_kernel(wt);
  if (!fn && isa >= MatmulIsa::avx2) fn = mm::avx2_kernel(wt);
  if (!fn) fn = mm::scalar_kernel(wt);
  return fn;
}

std::string sizes(int64_t T, int64_t K, int64_t N) {
  return "T=" + std::to_string(T) + " K=" + std::to_string(K) + " N=" + std::to_string(N);
}

}  // namespace

std::string_view matmul_isa_name(MatmulIsa isa) {
  switch (isa) {
    case MatmulIsa::scalar: return "scalar";
    case MatmulIsa::avx2: return "avx2";
    case MatmulIsa::avx512: return "avx512";
  }
  return "?";
}

MatmulIsa matmul_isa_for(const runtime::CpuFeatures& f) {
  const runtime::CpuLevel level = f.level();
  if (level >= runtime::CpuLevel::avx512 && f.avx512_vnni) return MatmulIsa::avx512;
  if (level >= runtime::CpuLevel::avx2) return MatmulIsa::avx2;
  return MatmulIsa::scalar;
}

MatmulIsa host_matmul_isa() { return matmul_isa_for(runtime::host_cpu_features()); }

bool matmul_supports(GgmlType wt) { return mm::scalar_kernel(wt) != nullptr; }

size_t mm::interleave_bytes(GgmlType wt, int64_t K) {
  if (act_format(wt) != ActFormat::q8_32) return 0;
  return (size_t(K) / 32 * (8 * 4 + 8 * 32) + 63) / 64 * 64;
}

size_t matmul_scratch_bytes(GgmlType wt, int64_t T, int64_t K, int threads) {
  const size_t acts = size_t(T) * mm::act_row_bytes(mm::act_format(wt), K);
  const size_t rows = size_t(std::max(threads, 1)) * size_t(K) * sizeof(float);
  const size_t pack = size_t(std::max(threads, 1)) * mm::interleave_bytes(wt, K);
  return acts + (rows + 63) / 64 * 64 + pack;
}

void MatmulScratch::Free::operator()(void* p) const noexcept { std::free(p); }

MatmulScratch::MatmulScratch(MatmulIsa isa, void* memory, size_t bytes) : isa_(isa), data_(memory), bytes_(bytes) {
  if (reinterpret_cast<uintptr_t>(memory) % 64 != 0) throw kiln::Error("matmul scratch: memory is not 64-byte aligned");
}

void MatmulScratch::reserve(size_t bytes) {
  if (bytes <= bytes_) return;
  if (data_ && !owned_)
    throw kiln::Error("matmul scratch: needs " + std::to_string(bytes) + " bytes, the borrowed block has " +
                      std::to_string(bytes_));
  const size_t rounded = (bytes + 4095) / 4096 * 4096;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw kiln::Error("matmul scratch: cannot allocate " + std::to_string(rounded) + " bytes");
  owned_.reset(p);
  data_ = p;
  bytes_ = rounded;
}

namespace {

void run(const float* x, int64_t T, int64_t K, size_t x_stride, const void* w, GgmlType wt, int64_t N,
         size_t w_stride, float* y, size_t y_stride, runtime::ThreadPool& pool, MatmulScratch& scratch,
         const PackedWeights* packed) {
  const mm::KernelFn kernel = pick_kernel(scratch.isa(), wt);
  if (!kernel) throw kiln::Error("matmul: weights of type " + std::string(type_name(wt)) + " are not supported");
  const TypeTraits tt = traits(wt);
  if (T < 0 || N < 0 || K <= 0 || K % tt.block_size != 0)
    throw kiln::Error("matmul: bad sizes " + sizes(T, K, N) + " for " + std::string(type_name(wt)) +
                      " weights (K must be a positive multiple of " + std::to_string(tt.block_size) + ")");
  if ((T > 1 && x_stride < size_t(K) * 4) || (T > 1 && y_stride < size_t(N) * 4) ||
      (N > 1 && w_stride < row_bytes(wt, K)))
    throw kiln::Error("matmul: row strides too small for " + sizes(T, K, N));
  if (T == 0 || N == 0) return;
  // Packed rows [0, packed_rows) go to the packed kernel, the rest (N % 16)
  // to the row kernel; bands below start at multiples of 16.
  const mm::PackedKernelFn packed_kernel =
      packed && scratch.isa() >= MatmulIsa::avx512 ? mm::avx512_packed_kernel(wt) : nullptr;
  const int64_t packed_rows = packed_kernel ? packed->packed_rows() : 0;

  const int threads = pool.size();
  scratch.reserve(matmul_scratch_bytes(wt, T, K, threads));
  const mm::ActFormat fmt = mm::act_format(wt);
  uint8_t* base = static_cast<uint8_t*>(scratch.data());
  const size_t acts_bytes = size_t(T) * mm::act_row_bytes(fmt, K);
  mm::Job job{wt, K, static_cast<const uint8_t*>(w), w_stride, x, x_stride, mm::make_acts(fmt, K, base),
              y, y_stride, reinterpret_cast<float*>(base + acts_bytes)};
  job.packed = packed_kernel ? packed : nullptr;
  job.thread_pack_bytes = mm::interleave_bytes(wt, K);
  if (job.thread_pack_bytes)
    job.thread_pack = base + acts_bytes + (size_t(threads) * size_t(K) * sizeof(float) + 63) / 64 * 64;

  // Tasks: a band of weight rows times a band of activation rows, ordered so
  // that consecutive tasks share their weight rows (still in cache).
  const size_t wbytes = std::max<size_t>(row_bytes(wt, K), 1);
  int64_t n_band = std::max<int64_t>(16, int64_t(kTaskWeightBytes / wbytes)) / 16 * 16;
  const int64_t t_band = std::min(T, kTaskRows);
  const int64_t t_bands = (T + t_band - 1) / t_band;
  // Enough tasks for every thread (a small N still splits in two).
  while (n_band > 16 && (N + n_band - 1) / n_band * t_bands < 4 * threads) n_band /= 2;
  n_band = std::max<int64_t>(1, std::min(n_band, N));
  const int64_t n_bands = (N + n_band - 1) / n_band;
  const int64_t tasks = n_bands * t_bands;

  const auto quantize = scratch.isa() >= MatmulIsa::avx512 ? mm::quantize_act_row_avx512
                        : scratch.isa() >= MatmulIsa::avx2 ? mm::quantize_act_row_avx2
                                                           : mm::quantize_act_row;
  std::atomic<int64_t> next{0};
  auto body = [&](int ith, int nth) {
    if (fmt != mm::ActFormat::none) {
      for (int64_t t = ith; t < T; t += nth) quantize(job.xrow(t), job.acts, t);
      if (nth > 1) pool.barrier();
    }
    for (int64_t task = next.fetch_add(1, std::memory_order_relaxed); task < tasks;
         task = next.fetch_add(1, std::memory_order_relaxed)) {
      const int64_t nb = task / t_bands, tb = task % t_bands;
      const int64_t n0 = nb * n_band, t0 = tb * t_band;
      const int64_t n1 = std::min(N, n0 + n_band), t1 = std::min(T, t0 + t_band);
      const int64_t split = std::clamp(packed_rows, n0, n1);
      if (split > n0) packed_kernel(job, n0 / PackedWeights::kRows, split / PackedWeights::kRows, t0, t1);
      if (n1 > split) kernel(job, split, n1, t0, t1, ith);
    }
  };
  if (threads == 1 || T * N * K < kMinParallelWork) {
    body(0, 1);
  } else {
    pool.run(body);
  }
}

}  // namespace

void matmul(const float* x, int64_t T, int64_t K, size_t x_stride, const void* w, GgmlType wt, int64_t N,
            size_t w_stride, float* y, size_t y_stride, runtime::ThreadPool& pool, MatmulScratch& scratch) {
  run(x, T, K, x_stride, w, wt, N, w_stride, y, y_stride, pool, scratch, nullptr);
}

void matmul(const float* x, int64_t T, int64_t K, size_t x_stride, const PackedWeights& w, float* y,
            size_t y_stride, runtime::ThreadPool& pool, MatmulScratch& scratch) {
  if (w.cols() != K)
    throw kiln::Error("matmul: packed weights of " + std::to_string(w.cols()) + " columns for rows of " + std::to_string(K));
  run(x, T, K, x_stride, w.original(), w.type(), w.rows(), w.stride(), y, y_stride, pool, scratch, &w);
}

}  // namespace kiln::cpu
