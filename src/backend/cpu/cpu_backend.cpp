// CpuBackend: memory management and the element-wise / row-wise ops. Every
// op checks shapes (a wrong shape is a bug in a model file, and the message
// says which op), then splits rows over the thread pool.
#include "backend/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/cpu/attention.h"
#include "backend/cpu/linear.h"
#include "backend/cpu/vec.h"
#include "core/error.h"
#include "core/quant/quant.h"
#include "gguf/gguf.h"

namespace kiln::cpu {

using backend::Tensor;

namespace {

// Values an op should process per task: below this a dispatch costs more
// than it saves.
constexpr int64_t kMinTaskWork = 16384;
// Extra arena bytes per thread for the ops' own working memory (attention:
// two f32 K/V blocks and the accumulators of a query tile, < 1 MiB for head
// dims up to 512, plus up to 1 MiB of scores) on top of the model's tensors
// and the matmul buffers.
constexpr size_t kOpBytesPerThread = size_t(3) << 20;

float* frow(const Tensor& t, int64_t r) { return reinterpret_cast<float*>(static_cast<uint8_t*>(t.data) + size_t(r) * t.stride); }

std::string shape(const Tensor& t) { return std::to_string(t.rows) + "x" + std::to_string(t.cols); }

void check_f32(const char* op, const Tensor& t) {
  if (t.type != GgmlType::F32) throw kiln::Error(std::string(op) + ": expected an F32 tensor, got " + std::string(type_name(t.type)));
}

void check_same(const char* op, const Tensor& a, const Tensor& b) {
  if (a.rows != b.rows || a.cols != b.cols)
    throw kiln::Error(std::string(op) + ": shapes " + shape(a) + " and " + shape(b) + " differ");
}

}  // namespace

CpuBackend::CpuBackend(CpuBackendOptions options)
    : pool_(runtime::ThreadPool::Options{.threads = options.threads}),
      arena_(options.scratch_bytes + kOpBytesPerThread * size_t(pool_.size()), "cpu backend scratch"),
      isa_(host_matmul_isa()),
      repack_(options.repack) {}

bool CpuBackendOptions::default_repack() {
  const char* v = std::getenv("KILN_REPACK");
  return !(v && std::string_view(v) == "0");
}

CpuBackend::~CpuBackend() = default;

template <class F>
void CpuBackend::for_rows(int64_t rows, int64_t work_per_row, F&& fn) {
  const int64_t total = rows * std::max<int64_t>(work_per_row, 1);
  if (rows <= 1 || total < 2 * kMinTaskWork || pool_.size() == 1) {
    fn(int64_t(0), rows);
    return;
  }
  const int64_t rows_per_task = std::max<int64_t>(1, kMinTaskWork / std::max<int64_t>(work_per_row, 1));
  const int64_t tasks = (rows + rows_per_task - 1) / rows_per_task;
  pool_.parallel_for(tasks, [&](int64_t task, int) {
    const int64_t r0 = task * rows_per_task;
    fn(r0, std::min(rows, r0 + rows_per_task));
  });
}

Tensor CpuBackend::bind_weight(const gguf::TensorInfo& info) {
  if (!info.data) throw kiln::Error("weight " + info.name + " has no data");
  Tensor t;
  t.data = const_cast<uint8_t*>(info.data);  // read-only in every op; the mapping is PROT_READ
  t.type = info.type;
  t.cols = info.row_length();
  t.rows = info.nrows();
  t.stride = row_bytes(info.type, t.cols);
  packed_.erase(t.data);
  if (repack_ && isa_ >= MatmulIsa::avx512 && PackedWeights::supports(t.type) && t.rows >= PackedWeights::kRows)
    packed_[t.data] = std::make_unique<PackedWeights>(t.data, t.type, t.rows, t.cols, t.stride);
  return t;
}

const PackedWeights* CpuBackend::packed_for(const Tensor& w) const {
  if (packed_.empty()) return nullptr;
  const auto it = packed_.find(w.data);
  if (it == packed_.end()) return nullptr;
  const PackedWeights& p = *it->second;
  return p.type() == w.type && p.rows() == w.rows && p.cols() == w.cols && p.stride() == w.stride ? &p : nullptr;
}

void CpuBackend::reserve_scratch(const backend::ScratchPlan& plan) {
  // The matmul kernels' activation buffers, for the hungriest weight type.
  size_t matmul_bytes = 0;
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K})
    matmul_bytes = std::max(matmul_bytes, matmul_scratch_bytes(t, std::max<int64_t>(plan.max_tokens, 1),
                                                               std::max<int64_t>(plan.max_row, 256), pool_.size()));
  arena_ = runtime::Arena(plan.tensor_bytes + matmul_bytes + kOpBytesPerThread * size_t(pool_.size()),
                          "cpu backend scratch", true);
}

void CpuBackend::begin_step() { arena_.reset(); }

Tensor CpuBackend::scratch(int64_t rows, int64_t cols, GgmlType type) {
  if (rows < 0 || cols < 0) throw kiln::Error("scratch tensor with negative shape");
  Tensor t;
  t.type = type;
  t.rows = rows;
  t.cols = cols;
  t.stride = row_bytes(type, cols);
  t.data = arena_.allocate(t.stride * size_t(rows));
  return t;
}

void CpuBackend::upload(const void* host, Tensor& dst) {
  const size_t rb = row_bytes(dst.type, dst.cols);
  for (int64_t r = 0; r < dst.rows; ++r)
    std::memcpy(static_cast<uint8_t*>(dst.data) + size_t(r) * dst.stride, static_cast<const uint8_t*>(host) + size_t(r) * rb, rb);
}

void CpuBackend::download(const Tensor& src, void* host) {
  const size_t rb = row_bytes(src.type, src.cols);
  for (int64_t r = 0; r < src.rows; ++r)
    std::memcpy(static_cast<uint8_t*>(host) + size_t(r) * rb, static_cast<const uint8_t*>(src.data) + size_t(r) * src.stride, rb);
}

void CpuBackend::get_rows(const Tensor& table, const Tensor& ids, Tensor& out) {
  check_f32("get_rows", out);
  if (ids.type != GgmlType::I32 || ids.rows != 1 || out.rows != ids.cols || out.cols != table.cols)
    throw kiln::Error("get_rows: " + shape(ids) + " ids into " + shape(out) + " from a " + shape(table) + " table");
  const int32_t* id = static_cast<const int32_t*>(ids.data);
  for (int64_t i = 0; i < ids.cols; ++i)
    if (id[i] < 0 || id[i] >= table.rows)
      throw kiln::Error("get_rows: row id " + std::to_string(id[i]) + " outside a table of " + std::to_string(table.rows) + " rows");
  for_rows(ids.cols, table.cols, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i)
      dequantize_row(table.type, static_cast<const uint8_t*>(table.data) + size_t(id[i]) * table.stride, frow(out, i), table.cols);
  });
}

void CpuBackend::matmul(const Tensor& x, const Tensor& w, Tensor& y) {
  check_f32("matmul", x);
  check_f32("matmul", y);
  if (x.cols != w.cols || y.rows != x.rows || y.cols != w.rows)
    throw kiln::Error("matmul: x " + shape(x) + " times weight " + shape(w) + "^T into " + shape(y));
  linear(x, w, packed_for(w), y, isa_, pool_, arena_);
}

void CpuBackend::add_bias(Tensor& y, const Tensor& bias) {
  check_f32("add_bias", y);
  check_f32("add_bias", bias);
  if (bias.rows != 1 || bias.cols != y.cols) throw kiln::Error("add_bias: bias " + shape(bias) + " for " + shape(y));
  const float* b = frow(bias, 0);
  for_rows(y.rows, y.cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* v = frow(y, r);
      for (int64_t c = 0; c < y.cols; ++c) v[c] += b[c];
    }
  });
}

void CpuBackend::rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  check_f32("rms_norm", x);
  check_f32("rms_norm", w);
  check_f32("rms_norm", y);
  check_same("rms_norm", x, y);
  if (w.rows != 1 || w.cols != x.cols) throw kiln::Error("rms_norm: weight " + shape(w) + " for rows of " + std::to_string(x.cols));
  const float* g = frow(w, 0);
  for_rows(x.rows, x.cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* in = frow(x, r);
      float* o = frow(y, r);
      const float inv = float(1.0 / std::sqrt(double(sum_squares(in, x.cols)) / double(x.cols) + double(eps)));
      for (int64_t c = 0; c < x.cols; ++c) o[c] = in[c] * inv * g[c];
    }
  });
}

void CpuBackend::rope(Tensor& x, const Tensor& positions, const backend::RopeParams& p) {
  check_f32("rope", x);
  constexpr int kMaxPairs = 512;
  if (p.head_dim <= 0 || x.cols % p.head_dim != 0 || p.n_dims <= 0 || p.n_dims % 2 != 0 || p.n_dims > p.head_dim ||
      p.n_dims / 2 > kMaxPairs)
    throw kiln::Error("rope: " + std::to_string(p.n_dims) + " rotated dims in heads of " + std::to_string(p.head_dim) +
                      " over rows of " + std::to_string(x.cols));
  if (positions.type != GgmlType::I32 || positions.rows != 1 || positions.cols != x.rows)
    throw kiln::Error("rope: " + shape(positions) + " positions for " + std::to_string(x.rows) + " rows");
  const int half = p.n_dims / 2;
  // Per-pair inverse frequencies, in double: theta = pos * inv_freq[i].
  double inv_freq[kMaxPairs];
  for (int i = 0; i < half; ++i) {
    inv_freq[i] = double(p.freq_scale) * std::pow(double(p.freq_base), -2.0 * i / p.n_dims);
    if (p.freq_factors) inv_freq[i] /= double(p.freq_factors[i]);
  }
  const int32_t* pos = static_cast<const int32_t*>(positions.data);
  const int64_t heads = x.cols / p.head_dim;
  const bool neox = p.style == backend::RopeStyle::Neox;
  for_rows(x.rows, x.cols * 4, [&](int64_t r0, int64_t r1) {
    float cs[kMaxPairs], sn[kMaxPairs];
    for (int64_t t = r0; t < r1; ++t) {
      for (int i = 0; i < half; ++i) {
        const double th = double(pos[t]) * inv_freq[i];
        cs[i] = float(std::cos(th));
        sn[i] = float(std::sin(th));
      }
      for (int64_t h = 0; h < heads; ++h) {
        float* v = frow(x, t) + h * p.head_dim;
        if (neox) {
          for (int i = 0; i < half; ++i) {
            const float x0 = v[i], x1 = v[i + half];
            v[i] = x0 * cs[i] - x1 * sn[i];
            v[i + half] = x0 * sn[i] + x1 * cs[i];
          }
        } else {
          for (int i = 0; i < half; ++i) {
            const float x0 = v[2 * i], x1 = v[2 * i + 1];
            v[2 * i] = x0 * cs[i] - x1 * sn[i];
            v[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
          }
        }
      }
    }
  });
}

void CpuBackend::add(const Tensor& a, const Tensor& b, Tensor& y) {
  check_f32("add", a);
  check_f32("add", b);
  check_f32("add", y);
  check_same("add", a, b);
  check_same("add", a, y);
  for_rows(a.rows, a.cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* pa = frow(a, r);
      const float* pb = frow(b, r);
      float* o = frow(y, r);
      for (int64_t c = 0; c < a.cols; ++c) o[c] = pa[c] + pb[c];
    }
  });
}

void CpuBackend::scale(Tensor& x, float s) {
  check_f32("scale", x);
  for_rows(x.rows, x.cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* v = frow(x, r);
      for (int64_t c = 0; c < x.cols; ++c) v[c] *= s;
    }
  });
}

void CpuBackend::glu(const Tensor& gate, const Tensor& up, backend::GluActivation act, Tensor& y) {
  check_f32("glu", gate);
  check_f32("glu", up);
  check_f32("glu", y);
  check_same("glu", gate, up);
  check_same("glu", gate, y);
  for_rows(gate.rows, gate.cols * 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* g = frow(gate, r);
      const float* u = frow(up, r);
      float* o = frow(y, r);
      if (act == backend::GluActivation::Silu)
        silu_mul(g, u, o, gate.cols);
      else
        gelu_mul(g, u, o, gate.cols);
    }
  });
}

void CpuBackend::softcap(Tensor& x, float cap) {
  check_f32("softcap", x);
  if (!(cap > 0)) throw kiln::Error("softcap: cap must be positive, got " + std::to_string(cap));
  for_rows(x.rows, x.cols * 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* v = frow(x, r);
      tanh_cap(v, x.cols, cap);
    }
  });
}

void CpuBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v, kv::KvCache& cache,
                           const kv::BatchMetadata& meta, const backend::AttentionParams& p, Tensor& out) {
  check_f32("attention", q);
  check_f32("attention", k);
  check_f32("attention", v);
  check_f32("attention", out);
  paged_attention(q, k, v, cache, meta, p, out, pool_, arena_);
}

}  // namespace kiln::cpu
