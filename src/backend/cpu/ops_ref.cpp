// Scalar references of the backend ops: the definition of what each op
// computes. Kept deliberately naive (no blocking, no threads, double sums).
#include "backend/cpu/ops_ref.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/quant/quant.h"
#include "kv/batch_metadata.h"
#include "kv/kv_cache.h"
#include "kv/kv_row_codec.h"

namespace kiln::cpu::ref {

namespace {

float* frow(const Tensor& t, int64_t r) { return reinterpret_cast<float*>(static_cast<uint8_t*>(t.data) + size_t(r) * t.stride); }
const int32_t* irow(const Tensor& t) { return static_cast<const int32_t*>(t.data); }

void require(bool ok, const char* op, const std::string& what) {
  if (!ok) throw kiln::Error(std::string("reference ") + op + ": " + what);
}

// One weight/table row as f32.
std::vector<float> dequant(const Tensor& t, int64_t r) {
  std::vector<float> out(size_t(t.cols));
  dequantize_row(t.type, static_cast<const uint8_t*>(t.data) + size_t(r) * t.stride, out.data(), t.cols);
  return out;
}

}  // namespace

double gelu_tanh(double x) {
  constexpr double kSqrt2OverPi = 0.79788456080286535588;
  return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * x * (1.0 + 0.044715 * x * x)));
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }

double rope_theta(const RopeParams& p, int64_t pos, int i) {
  double theta = double(pos) * double(p.freq_scale) * std::pow(double(p.freq_base), -2.0 * i / p.n_dims);
  if (p.freq_factors) theta /= double(p.freq_factors[i]);
  return theta;
}

void get_rows(const Tensor& table, const Tensor& ids, Tensor& out) {
  require(out.rows == ids.cols && out.cols == table.cols, "get_rows", "shape mismatch");
  for (int64_t i = 0; i < ids.cols; ++i) {
    const int32_t id = irow(ids)[i];
    require(id >= 0 && id < table.rows, "get_rows", "row id " + std::to_string(id) + " out of range");
    const std::vector<float> r = dequant(table, id);
    for (int64_t c = 0; c < table.cols; ++c) frow(out, i)[c] = r[size_t(c)];
  }
}

void matmul(const Tensor& x, const Tensor& w, Tensor& y) {
  require(x.cols == w.cols && y.rows == x.rows && y.cols == w.rows, "matmul", "shape mismatch");
  for (int64_t n = 0; n < w.rows; ++n) {
    const std::vector<float> wr = dequant(w, n);
    for (int64_t t = 0; t < x.rows; ++t) {
      double s = 0;
      for (int64_t k = 0; k < x.cols; ++k) s += double(frow(x, t)[k]) * double(wr[size_t(k)]);
      frow(y, t)[n] = float(s);
    }
  }
}

void add_bias(Tensor& y, const Tensor& bias) {
  require(bias.cols == y.cols, "add_bias", "shape mismatch");
  for (int64_t t = 0; t < y.rows; ++t)
    for (int64_t c = 0; c < y.cols; ++c) frow(y, t)[c] = float(double(frow(y, t)[c]) + double(frow(bias, 0)[c]));
}

void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  require(w.cols == x.cols && y.rows == x.rows && y.cols == x.cols, "rms_norm", "shape mismatch");
  for (int64_t r = 0; r < x.rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < x.cols; ++c) ss += double(frow(x, r)[c]) * double(frow(x, r)[c]);
    const double inv = 1.0 / std::sqrt(ss / double(x.cols) + double(eps));
    for (int64_t c = 0; c < x.cols; ++c) frow(y, r)[c] = float(double(frow(x, r)[c]) * inv * double(frow(w, 0)[c]));
  }
}

void rope(Tensor& x, const Tensor& positions, const RopeParams& p) {
  require(p.head_dim > 0 && x.cols % p.head_dim == 0 && p.n_dims % 2 == 0 && p.n_dims <= p.head_dim,
          "rope", "bad head layout");
  require(positions.cols == x.rows, "rope", "one position per row expected");
  const int half = p.n_dims / 2;
  for (int64_t t = 0; t < x.rows; ++t) {
    const int64_t pos = irow(positions)[t];
    for (int64_t h = 0; h < x.cols / p.head_dim; ++h) {
      float* v = frow(x, t) + h * p.head_dim;
      for (int i = 0; i < half; ++i) {
        const double th = rope_theta(p, pos, i);
        const int a = p.style == backend::RopeStyle::Normal ? 2 * i : i;
        const int b = p.style == backend::RopeStyle::Normal ? 2 * i + 1 : i + half;
        const double x0 = v[a], x1 = v[b];
        v[a] = float(x0 * std::cos(th) - x1 * std::sin(th));
        v[b] = float(x0 * std::sin(th) + x1 * std::cos(th));
      }
    }
  }
}

void add(const Tensor& a, const Tensor& b, Tensor& y) {
  require(a.rows == b.rows && a.cols == b.cols && y.rows == a.rows && y.cols == a.cols, "add", "shape mismatch");
  for (int64_t r = 0; r < a.rows; ++r)
    for (int64_t c = 0; c < a.cols; ++c) frow(y, r)[c] = float(double(frow(a, r)[c]) + double(frow(b, r)[c]));
}

void scale(Tensor& x, float s) {
  for (int64_t r = 0; r < x.rows; ++r)
    for (int64_t c = 0; c < x.cols; ++c) frow(x, r)[c] = float(double(frow(x, r)[c]) * double(s));
}

void glu(const Tensor& gate, const Tensor& up, GluActivation act, Tensor& y) {
  require(gate.rows == up.rows && gate.cols == up.cols && y.rows == gate.rows && y.cols == gate.cols, "glu",
          "shape mismatch");
  for (int64_t r = 0; r < gate.rows; ++r)
    for (int64_t c = 0; c < gate.cols; ++c) {
      const double g = frow(gate, r)[c];
      const double a = act == GluActivation::Silu ? silu(g) : gelu_tanh(g);
      frow(y, r)[c] = float(a * double(frow(up, r)[c]));
    }
}

void softcap(Tensor& x, float cap) {
  for (int64_t r = 0; r < x.rows; ++r)
    for (int64_t c = 0; c < x.cols; ++c) frow(x, r)[c] = float(double(cap) * std::tanh(double(frow(x, r)[c]) / cap));
}

void attention(const Tensor& q, const Tensor& k, const Tensor& v, kv::KvCache& cache, const kv::BatchMetadata& meta,
               const AttentionParams& p, Tensor& out) {
  const int hd = p.head_dim;
  require(p.n_kv_heads > 0 && p.n_heads % p.n_kv_heads == 0, "attention", "heads not grouped");
  require(q.rows == meta.n_tokens() && k.rows == q.rows && v.rows == q.rows && out.rows == q.rows, "attention",
          "one row per batch token expected");
  require(q.cols == int64_t(p.n_heads) * hd && k.cols == int64_t(p.n_kv_heads) * hd && v.cols == k.cols &&
              out.cols == q.cols,
          "attention", "head layout mismatch");
  const int g = cache.group_of_layer(p.layer);
  const kv::BatchMetadata::Group grp = meta.group(g);
  const kv::BlockLayout& l = cache.layout(g);
  const int64_t bs = cache.block_size();
  const kv::KvType kt = cache.config().type;

  for (int64_t t = 0; t < q.rows; ++t) cache.write(p.layer, grp.slot_mapping[size_t(t)], frow(k, t), frow(v, t));

  std::vector<float> kr(static_cast<size_t>(hd)), vr(static_cast<size_t>(hd));
  std::vector<double> scores, acc(static_cast<size_t>(hd));
  for (int e = 0; e < meta.n_seqs(); ++e) {
    const int32_t* table = grp.block_table.data() + size_t(e) * size_t(grp.stride);
    for (int32_t t = meta.query_start()[size_t(e)]; t < meta.query_start()[size_t(e) + 1]; ++t) {
      const int64_t pos = meta.positions()[size_t(t)];
      const int64_t first = grp.window > 0 ? std::max<int64_t>(0, pos - grp.window + 1) : 0;
      for (int h = 0; h < p.n_heads; ++h) {
        const int kvh = h / (p.n_heads / p.n_kv_heads);
        const float* qh = frow(q, t) + size_t(h) * size_t(hd);
        scores.assign(size_t(pos - first + 1), 0.0);
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t kp = first; kp <= pos; ++kp) {
          const int32_t block = table[kp / bs];
          require(block >= 0, "attention", "visible key in a released block");
          kv::load_row(kt, l.k_rotation, cache.k_data(p.layer, kv::BlockId(block)) + kvh * l.k_head_stride + (kp % bs) * l.k_row_bytes,
                       kr.data(), hd);
          double s = 0;
          for (int d = 0; d < hd; ++d) s += double(qh[d]) * double(kr[size_t(d)]);
          s *= double(p.scale);
          if (p.softcap > 0) s = double(p.softcap) * std::tanh(s / double(p.softcap));
          scores[size_t(kp - first)] = s;
          mx = std::max(mx, s);
        }
        double sum = 0;
        for (double& s : scores) sum += (s = std::exp(s - mx));
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t kp = first; kp <= pos; ++kp) {
          const int32_t block = table[kp / bs];
          kv::load_row(kt, l.v_rotation, cache.v_data(p.layer, kv::BlockId(block)) + kvh * l.v_head_stride + (kp % bs) * l.v_row_bytes,
                       vr.data(), hd);
          const double wgt = scores[size_t(kp - first)] / sum;
          for (int d = 0; d < hd; ++d) acc[size_t(d)] += wgt * double(vr[size_t(d)]);
        }
        float* o = frow(out, t) + size_t(h) * size_t(hd);
        for (int d = 0; d < hd; ++d) o[d] = float(acc[size_t(d)]);
      }
    }
  }
}

}  // namespace kiln::cpu::ref
