// Every op of every backend against the scalar reference (backend/cpu/ops_ref.h)
// on random inputs of odd sizes, in the spirit of llama.cpp's test-backend-ops.
// Inputs go in through upload()/bind_weight() and results come back through
// download(), so a device backend runs the same test unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/ops_ref.h"
#include "backend/registry.h"
#include "core/quant/quant.h"
#include "gguf/gguf.h"
#include "kv/batch_metadata.h"
#include "kv/kv_cache.h"

namespace kiln::backend {
namespace {

// A host tensor with its own storage (the reference works on these).
struct HostTensor {
  std::vector<uint8_t> bytes;
  Tensor t;
  HostTensor(int64_t rows, int64_t cols, GgmlType type = GgmlType::F32) : bytes(row_bytes(type, cols) * size_t(rows)) {
    t = Tensor{bytes.data(), type, rows, cols, row_bytes(type, cols)};
  }
  HostTensor(const HostTensor& o) : bytes(o.bytes), t(o.t) { t.data = bytes.data(); }
  HostTensor& operator=(const HostTensor&) = delete;
  float* f(int64_t r = 0) { return reinterpret_cast<float*>(bytes.data() + size_t(r) * t.stride); }
  int32_t* i() { return reinterpret_cast<int32_t*>(bytes.data()); }
};

HostTensor random_f32(std::mt19937& rng, int64_t rows, int64_t cols, float lo = -1.f, float hi = 1.f) {
  HostTensor h(rows, cols);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) h.f(r)[c] = d(rng);
  return h;
}

// Random weights of a type (quantized from random floats).
HostTensor random_weight(std::mt19937& rng, GgmlType type, int64_t rows, int64_t cols) {
  HostTensor src = random_f32(rng, rows, cols);
  HostTensor w(rows, cols, type);
  for (int64_t r = 0; r < rows; ++r) quantize_row(type, src.f(r), w.bytes.data() + size_t(r) * w.t.stride, cols);
  return w;
}

class OpsTest : public ::testing::TestWithParam<std::string> {
 public:
  void SetUp() override {
    be = make_backend(GetParam(), {.threads = 2});
    be->reserve_scratch({.tensor_bytes = size_t(64) << 20, .max_tokens = 256, .max_row = 2048});
    be->begin_step();
  }
  Tensor to_device(HostTensor& h) {
    Tensor d = be->scratch(h.t.rows, h.t.cols, h.t.type);
    be->upload(h.bytes.data(), d);
    return d;
  }
  Tensor weight(HostTensor& h, const char* name) {
    info = gguf::TensorInfo{};
    info.name = name;
    info.type = h.t.type;
    info.shape = {h.t.cols, h.t.rows};
    info.nbytes = h.bytes.size();
    info.data = h.bytes.data();
    return be->bind_weight(info);
  }
  HostTensor from_device(const Tensor& d) {
    HostTensor h(d.rows, d.cols, d.type);
    be->download(d, h.bytes.data());
    return h;
  }
  // |got - want| <= tol(r, c) everywhere, reporting the first failure.
  template <class Tol>
  void expect_close(HostTensor& got, HostTensor& want, Tol tol, const std::string& what) {
    ASSERT_EQ(got.t.rows, want.t.rows);
    ASSERT_EQ(got.t.cols, want.t.cols);
    for (int64_t r = 0; r < got.t.rows; ++r)
      for (int64_t c = 0; c < got.t.cols; ++c) {
        const double g = got.f(r)[c], w = want.f(r)[c];
        if (!(std::abs(g - w) <= tol(r, c))) {
          ADD_FAILURE() << what << ": at [" << r << "][" << c << "] got " << g << ", reference " << w << " (tolerance "
                        << tol(r, c) << ")";
          return;
        }
      }
  }
  void expect_close(HostTensor& got, HostTensor& want, double rel, const std::string& what) {
    expect_close(got, want, [&](int64_t r, int64_t c) { return rel * (1.0 + std::abs(double(want.f(r)[c]))); }, what);
  }

  std::unique_ptr<Backend> be;
  gguf::TensorInfo info;
  std::mt19937 rng{1234};
};

const GgmlType kWeightTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1,
                                 GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q2_K, GgmlType::Q3_K,
                                 GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

TEST_P(OpsTest, GetRows) {
  for (GgmlType type : kWeightTypes) {
    const int64_t cols = traits(type).block_size * 3, rows = 37;
    HostTensor table = random_weight(rng, type, rows, cols);
    HostTensor ids(1, 11, GgmlType::I32);
    for (int i = 0; i < 11; ++i) ids.i()[i] = int32_t((i * 17 + 5) % rows);
    HostTensor want(11, cols);
    cpu::ref::get_rows(table.t, ids.t, want.t);
    Tensor w = weight(table, "table"), di = to_device(ids), out = be->scratch(11, cols);
    be->get_rows(w, di, out);
    HostTensor got = from_device(out);
    expect_close(got, want, 0.0, std::string("get_rows ") + std::string(type_name(type)));
  }
}

// Activations may be quantized to 8 bits per block inside a quantized matmul:
// the error of one product term is then at most |w| * max|x in its block| / 127
// (half a step of 1/127 of the block's max, doubled for safety).
TEST_P(OpsTest, Matmul) {
  for (GgmlType type : kWeightTypes)
    for (int64_t T : {1, 3, 17})
      for (int64_t N : {1, 7, 33})
        for (int64_t kb : {1, 3}) {
          const int64_t bsz = std::max<int64_t>(traits(type).block_size, 32);
          const int64_t K = bsz * kb;
          HostTensor x = random_f32(rng, T, K), wt = random_weight(rng, type, N, K), want(T, N);
          cpu::ref::matmul(x.t, wt.t, want.t);
          Tensor dx = to_device(x), dw = weight(wt, "w"), dy = be->scratch(T, N);
          be->matmul(dx, dw, dy);
          HostTensor got = from_device(dy);
          const bool float_weights = !traits(type).quantized;
          auto tol = [&](int64_t t, int64_t n) {
            std::vector<float> wr(static_cast<size_t>(K));
            dequantize_row(type, wt.bytes.data() + size_t(n) * wt.t.stride, wr.data(), K);
            double bound = 0, mag = 0;
            for (int64_t k0 = 0; k0 < K; k0 += bsz) {
              double amax = 0;
              for (int64_t k = k0; k < k0 + bsz; ++k) amax = std::max(amax, std::abs(double(x.f(t)[k])));
              for (int64_t k = k0; k < k0 + bsz; ++k) {
                bound += std::abs(double(wr[size_t(k)])) * amax / 127.0;
                mag += std::abs(double(wr[size_t(k)]) * x.f(t)[k]);
              }
            }
            return float_weights ? 1e-5 * mag + 1e-6 : bound + 1e-5 * mag + 1e-6;
          };
          expect_close(got, want, tol,
                       "matmul " + std::string(type_name(type)) + " T=" + std::to_string(T) + " N=" + std::to_string(N) +
                           " K=" + std::to_string(K));
          be->begin_step();
        }
}

TEST_P(OpsTest, ElementWise) {
  for (int64_t cols : {1, 7, 33, 640, 1001}) {
    const int64_t rows = cols > 100 ? 5 : 19;
    HostTensor a = random_f32(rng, rows, cols, -4, 4), b = random_f32(rng, rows, cols, -4, 4);
    HostTensor bias = random_f32(rng, 1, cols), w = random_f32(rng, 1, cols, 0.5f, 1.5f);
    const std::string sz = " cols=" + std::to_string(cols);
    {  // add (into a third tensor and in place)
      HostTensor want(rows, cols);
      cpu::ref::add(a.t, b.t, want.t);
      Tensor da = to_device(a), db = to_device(b), dy = be->scratch(rows, cols);
      be->add(da, db, dy);
      be->add(da, db, da);
      HostTensor g1 = from_device(dy), g2 = from_device(da);
      expect_close(g1, want, 1e-6, "add" + sz);
      expect_close(g2, want, 1e-6, "add in place" + sz);
    }
    {  // add_bias, scale, softcap (in place)
      HostTensor w1 = a, w2 = a, w3 = a;
      cpu::ref::add_bias(w1.t, bias.t);
      cpu::ref::scale(w2.t, 0.37f);
      cpu::ref::softcap(w3.t, 3.0f);
      Tensor d1 = to_device(a), d2 = to_device(a), d3 = to_device(a), dbias = to_device(bias);
      be->add_bias(d1, dbias);
      be->scale(d2, 0.37f);
      be->softcap(d3, 3.0f);
      HostTensor g1 = from_device(d1), g2 = from_device(d2), g3 = from_device(d3);
      expect_close(g1, w1, 1e-6, "add_bias" + sz);
      expect_close(g2, w2, 1e-6, "scale" + sz);
      expect_close(g3, w3, 1e-5, "softcap" + sz);
    }
    {  // rms_norm, also in place
      HostTensor want(rows, cols);
      cpu::ref::rms_norm(a.t, w.t, 1e-6f, want.t);
      Tensor da = to_device(a), dw = to_device(w), dy = be->scratch(rows, cols);
      be->rms_norm(da, dw, 1e-6f, dy);
      be->rms_norm(da, dw, 1e-6f, da);
      HostTensor g1 = from_device(dy), g2 = from_device(da);
      expect_close(g1, want, 1e-5, "rms_norm" + sz);
      expect_close(g2, want, 1e-5, "rms_norm in place" + sz);
    }
    for (GluActivation act : {GluActivation::Silu, GluActivation::GeluTanh}) {
      HostTensor want(rows, cols);
      cpu::ref::glu(a.t, b.t, act, want.t);
      Tensor da = to_device(a), db = to_device(b);
      be->glu(da, db, act, da);  // aliasing gate
      HostTensor got = from_device(da);
      expect_close(got, want, 1e-5, std::string(act == GluActivation::Silu ? "glu silu" : "glu gelu") + sz);
    }
    be->begin_step();
  }
}

TEST_P(OpsTest, Rope) {
  std::vector<float> factors(128);
  for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + float(i % 7);
  struct Case {
    RopeStyle style;
    int head_dim, n_dims;
    float base, scale;
    bool ff;
  };
  const Case cases[] = {{RopeStyle::Normal, 64, 64, 10000.f, 1.f, false}, {RopeStyle::Neox, 64, 64, 1e6f, 1.f, false},
                        {RopeStyle::Neox, 128, 96, 10000.f, 0.25f, false}, {RopeStyle::Normal, 128, 128, 500000.f, 1.f, true},
                        {RopeStyle::Neox, 256, 256, 1e6f, 1.f, true}};
  for (const Case& c : cases) {
    const int64_t T = 13, heads = 3;
    HostTensor x = random_f32(rng, T, heads * c.head_dim), want = x, pos(1, T, GgmlType::I32);
    for (int64_t t = 0; t < T; ++t) pos.i()[t] = int32_t(t * 389 % 4099);
    RopeParams p{c.style, c.head_dim, c.n_dims, c.base, c.scale, c.ff ? factors.data() : nullptr};
    cpu::ref::rope(want.t, pos.t, p);
    Tensor dx = to_device(x), dp = to_device(pos);
    be->rope(dx, dp, p);
    HostTensor got = from_device(dx);
    expect_close(got, want, 1e-5, "rope head_dim=" + std::to_string(c.head_dim) + " n_dims=" + std::to_string(c.n_dims));
  }
}

// Attention through a paged cache: a full-attention group and a sliding-window
// group; sequences that share a prefix by fork (copy-on-write on the first
// write), one that started from the prefix cache, chunks larger than a query
// tile, and mixed decode + prefill batches. Every step checks the output of
// both groups' layers against the reference.
//
// score_floats > 0 runs the CPU kernel directly with that small a budget for
// the scores it keeps, so that the path for contexts whose scores do not fit
// (recomputed in a second pass) is checked as well.
void run_attention_scenario(OpsTest& test, Backend& be, std::mt19937& rng, kv::KvType type, float softcap,
                            int64_t score_floats = 0) {
  runtime::ThreadPool pool(runtime::ThreadPool::Options{.threads = 2});
  runtime::Arena arena(size_t(16) << 20, "attention test");
  constexpr int kHeads = 6, kKvHeads = 2, kDim = 64, kWindow = 21, kBlock = 16;
  kv::CacheConfig cfg;
  cfg.block_size = kBlock;
  cfg.type = type;
  cfg.groups = {{.layers = {0}, .n_kv_heads = kKvHeads, .k_head_dim = kDim, .v_head_dim = kDim, .window = 0, .num_blocks = 64},
                {.layers = {1}, .n_kv_heads = kKvHeads, .k_head_dim = kDim, .v_head_dim = kDim, .window = kWindow, .num_blocks = 64}};
  cfg.max_sequences = 8;
  cfg.model_identity = "ops-test";
  kv::KvCache cache(cfg);
  kv::BatchMetadata meta(cache, 8, 256, 64);

  std::vector<kv::Token> prompt(70);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = kv::Token(i * 7 % 50);
  const kv::SeqId a = cache.create_sequence();
  auto step = [&](std::vector<std::pair<kv::SeqId, std::vector<kv::Token>>> work, const std::string& what) {
    std::vector<kv::BatchEntry> batch;
    for (auto& [s, toks] : work) {
      cache.append(s, toks);
      batch.push_back({s, int32_t(toks.size())});
    }
    meta.build(cache, batch);
    const int64_t T = meta.n_tokens();
    for (int layer = 0; layer < 2; ++layer) {
      be.begin_step();
      HostTensor q = random_f32(rng, T, kHeads * kDim, -2, 2), k = random_f32(rng, T, kKvHeads * kDim, -2, 2),
                 v = random_f32(rng, T, kKvHeads * kDim), want(T, kHeads * kDim);
      AttentionParams p{layer, kHeads, kKvHeads, kDim, 1.0f / 8.0f, softcap};
      HostTensor got(T, kHeads * kDim);
      if (score_floats > 0) {
        cpu::paged_attention(q.t, k.t, v.t, cache, meta, p, got.t, pool, arena, score_floats);
      } else {
        Tensor dq = test.to_device(q), dk = test.to_device(k), dv = test.to_device(v), dout = be.scratch(T, kHeads * kDim);
        be.attention(dq, dk, dv, cache, meta, p, dout);
        const HostTensor r = test.from_device(dout);
        std::copy(r.bytes.begin(), r.bytes.end(), got.bytes.begin());
      }
      cpu::ref::attention(q.t, k.t, v.t, cache, meta, p, want.t);
      test.expect_close(got, want, 2e-4, what + " layer " + std::to_string(layer));
    }
    for (auto& [s, toks] : work) cache.mark_computed(s);
  };
  auto tokens = [&](size_t from, size_t n) { return std::vector<kv::Token>(prompt.begin() + long(from), prompt.begin() + long(from + n)); };

  step({{a, tokens(0, 37)}}, "prefill of 37");
  const kv::SeqId b = cache.fork(a);  // shares a's blocks, incl. the partial tail
  const kv::SeqId c = cache.create_sequence();
  step({{a, tokens(37, 1)}, {b, {99, 98, 97, 96, 95}}, {c, tokens(0, 23)}}, "decode + fork chunk + new prompt");
  step({{a, tokens(38, 1)}, {b, {94}}, {c, tokens(23, 9)}}, "decode x2 + chunk");
  for (int i = 0; i < 3; ++i) step({{a, tokens(39 + size_t(i), 1)}, {b, {kv::Token(90 - i)}}}, "decode past the window");
  // A fourth sequence reuses the prefix cache (full blocks of a's prompt).
  const kv::SeqId d = cache.create_sequence();
  const int64_t reused = cache.attach_prefix(d, prompt, 60);
  ASSERT_GT(reused, 0);
  step({{d, tokens(size_t(reused), 60 - size_t(reused))}, {c, tokens(32, 1)}}, "after prefix reuse");
}

TEST_P(OpsTest, AttentionPagedF16) { run_attention_scenario(*this, *be, rng, kv::KvType::F16, 0.0f); }
TEST_P(OpsTest, AttentionPagedQ8_0) { run_attention_scenario(*this, *be, rng, kv::KvType::Q8_0, 0.0f); }
TEST_P(OpsTest, AttentionSoftcap) { run_attention_scenario(*this, *be, rng, kv::KvType::F16, 5.0f); }
TEST_P(OpsTest, AttentionScoresRecomputed) {
  if (GetParam() != "cpu") GTEST_SKIP() << "the CPU kernel's small-budget path";
  run_attention_scenario(*this, *be, rng, kv::KvType::F16, 0.0f, 40);
}

INSTANTIATE_TEST_SUITE_P(Backends, OpsTest, ::testing::ValuesIn(available_backends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kiln::backend
