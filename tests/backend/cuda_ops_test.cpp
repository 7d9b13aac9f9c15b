// The CUDA backend against the scalar reference at the shapes its fast paths
// take: mat-vec kernels (T <= 8; dp4a up to 64 with KILN_CUDA_MMVQ_ROWS) and the dequantize + cuBLAS path on
// real-model widths, and paged attention with grouped-query heads, long
// contexts (split over keys and combined) and prefill chunks. The generic
// op-level test (ops_test.cpp) runs every op on "cuda" too wherever a GPU is
// present; this file adds the sizes that matter for speed. Skipped without a
// GPU (and in builds without CUDA).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/ops_ref.h"
#include "backend/registry.h"
#ifdef KILN_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#include "core/quant/quant.h"
#include "gguf/gguf.h"
#include "kv/batch_metadata.h"
#include "kv/kv_cache.h"

namespace kiln::backend {
namespace {

bool have_cuda() {
  const std::vector<std::string> names = available_backends();
  return std::find(names.begin(), names.end(), "cuda") != names.end();
}

struct Host {
  std::vector<uint8_t> bytes;
  Tensor t;
  Host(int64_t rows, int64_t cols, GgmlType type = GgmlType::F32) : bytes(row_bytes(type, cols) * size_t(rows)) {
    t = Tensor{bytes.data(), type, rows, cols, row_bytes(type, cols)};
  }
  float* f(int64_t r = 0) { return reinterpret_cast<float*>(bytes.data() + size_t(r) * t.stride); }
};

Host random_f32(std::mt19937& rng, int64_t rows, int64_t cols, float lo = -1.f, float hi = 1.f) {
  Host h(rows, cols);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) h.f(r)[c] = d(rng);
  return h;
}

class CudaOpsTest : public ::testing::Test {
 public:
  void SetUp() override {
    if (!have_cuda()) GTEST_SKIP() << "no CUDA device (or a build without CUDA)";
    be = make_backend("cuda");
    be->reserve_scratch({.tensor_bytes = size_t(256) << 20, .max_tokens = 512, .max_row = 4096});
    be->begin_step();
  }
  Tensor to_device(Host& h) {
    Tensor d = be->scratch(h.t.rows, h.t.cols, h.t.type);
    be->upload(h.bytes.data(), d);
    return d;
  }
  Host from_device(const Tensor& d) {
    Host h(d.rows, d.cols, d.type);
    be->download(d, h.bytes.data());
    return h;
  }
  std::unique_ptr<Backend> be;
  std::mt19937 rng{77};
};

// Relative error against sum |w x| (the scale any rounding is measured on):
// f32 math for mat-vec and float weights, f16 activations for quantized GEMMs.
TEST_F(CudaOpsTest, MatmulAtModelWidths) {
  const GgmlType types[] = {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::Q5_0,
                            GgmlType::Q4_0, GgmlType::F16,  GgmlType::BF16, GgmlType::F32};
  auto check = [&](GgmlType type, int64_t N, int64_t K, std::initializer_list<int64_t> Ts, const std::string& what) {
    Host src = random_f32(rng, N, K);
    Host w(N, K, type);
    for (int64_t r = 0; r < N; ++r) quantize_row(type, src.f(r), w.bytes.data() + size_t(r) * w.t.stride, K);
    gguf::TensorInfo info;
    info.name = "w";
    info.type = type;
    info.shape = {K, N};
    info.nbytes = w.bytes.size();
    info.data = w.bytes.data();
    const Tensor dw = be->bind_weight(info);
    for (int64_t T : Ts) {
      be->begin_step();
      Host x = random_f32(rng, T, K, -3, 3), want(T, N);
      cpu::ref::matmul(x.t, w.t, want.t);
      Tensor dx = to_device(x), dy = be->scratch(T, N);
      be->matmul(dx, dw, dy);
      Host got = from_device(dy);
      std::vector<float> wr(static_cast<size_t>(K));
      // f16 activations (GEMM, T > 64, or T > 8 for the types without a
      // dp4a kernel) and int8 activations (the dp4a mat-vec of
      // Q4_K/Q6_K/Q8_0/Q5_0, T <= 64) round x; the other mat-vecs use f32.
      const bool int8_x = type == GgmlType::Q4_K || type == GgmlType::Q6_K || type == GgmlType::Q8_0 ||
                          type == GgmlType::Q5_0;
      const double rel = (traits(type).quantized && (T > 8 || int8_x)) ? 2e-3 : 2e-5;
      for (int64_t n = 0; n < N; ++n) {
        dequantize_row(type, w.bytes.data() + size_t(n) * w.t.stride, wr.data(), K);
        for (int64_t t = 0; t < T; ++t) {
          double mag = 0;
          for (int64_t k = 0; k < K; ++k) mag += std::abs(double(wr[size_t(k)]) * x.f(t)[k]);
          ASSERT_NEAR(got.f(t)[n], want.f(t)[n], rel * mag + 1e-5)
              << type_name(type) << " " << N << "x" << K << " T=" << T << " row " << n << " token " << t << " " << what;
        }
      }
    }
  };
  // Batched decode (9..64 rows) on the dp4a kernel at each rows-per-load
  // setting (chunks of 8, 16, 32 rows, the last one partial), then 0: those
  // rows through dequantize + cuBLAS; T = 65 is the GEMM in every setting.
  const char* prev = std::getenv("KILN_CUDA_MMVQ_ROWS");
  const std::string saved = prev ? prev : "";
  for (const char* rows : {"16", "8", "32", "0"}) {
    setenv("KILN_CUDA_MMVQ_ROWS", rows, 1);
    SetUp();  // a backend that reads the setting
    const std::string what = std::string("KILN_CUDA_MMVQ_ROWS=") + rows;
    for (GgmlType type : types) check(type, 96, 2048, {1, 2, 8, 9, 16, 24, 32, 41, 64, 65}, what);
    // Tall matrices: one warp per row (the other kernel instance).
    for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q6_K}) check(type, 4096, 512, {3, 17, 32, 64}, what);
  }
  if (prev)
    setenv("KILN_CUDA_MMVQ_ROWS", saved.c_str(), 1);
  else
    unsetenv("KILN_CUDA_MMVQ_ROWS");
}

// Decode-shaped steps (T = 1, 2 and a 32-sequence batch on the dp4a path,
// KILN_CUDA_MMVQ_ROWS=16) through norm, three Q4_K mat-vecs (two sharing
// their input, so it is quantized once), GLU, RoPE and a residual
// add, repeated with fresh inputs: with CUDA graphs on (the default) the
// first step of a shape runs eagerly, the second is captured and the rest
// replay the graph; every step must match the reference, so a replay that
// read stale uploads or the wrong quantized input would fail.
TEST_F(CudaOpsTest, DecodeStepsReplayAsGraphs) {
  // The 32-row steps on the dp4a mat-vec (chunks of 16 rows), which keeps
  // them in graph mode (the cuBLAS path runs eagerly).
  const char* prev = std::getenv("KILN_CUDA_MMVQ_ROWS");
  const std::string saved = prev ? prev : "";
  setenv("KILN_CUDA_MMVQ_ROWS", "16", 1);
  SetUp();
  if (prev)
    setenv("KILN_CUDA_MMVQ_ROWS", saved.c_str(), 1);
  else
    unsetenv("KILN_CUDA_MMVQ_ROWS");
  const int64_t K = 512, F = 1024;
  auto weight = [&](int64_t rows, int64_t cols, Host& w) {
    Host src = random_f32(rng, rows, cols);
    for (int64_t r = 0; r < rows; ++r)
      quantize_row(GgmlType::Q4_K, src.f(r), w.bytes.data() + size_t(r) * w.t.stride, cols);
    gguf::TensorInfo info;
    info.name = "w";
    info.type = GgmlType::Q4_K;
    info.shape = {cols, rows};
    info.nbytes = w.bytes.size();
    info.data = w.bytes.data();
    return be->bind_weight(info);
  };
  Host wg(F, K, GgmlType::Q4_K), wu(F, K, GgmlType::Q4_K), wd(K, F, GgmlType::Q4_K);
  const Tensor dwg = weight(F, K, wg), dwu = weight(F, K, wu), dwd = weight(K, F, wd);
  Host norm = random_f32(rng, 1, K, 0.5f, 1.5f);
  gguf::TensorInfo ninfo;
  ninfo.name = "norm";
  ninfo.type = GgmlType::F32;
  ninfo.shape = {K};
  ninfo.nbytes = norm.bytes.size();
  ninfo.data = norm.bytes.data();
  const Tensor dnorm = be->bind_weight(ninfo);
  RopeParams rp;
  rp.style = RopeStyle::Neox;
  rp.head_dim = 64;
  rp.n_dims = 64;
  rp.freq_base = 1e6f;
#ifdef KILN_HAVE_CUDA
  const cuda::GraphCounts before = cuda::graph_counts(*be);
#endif
  int steps = 0;
  for (int64_t T : {1, 2, 32}) {
    for (int it = 0; it < 6; ++it, ++steps) {
      be->begin_step();
      Host x = random_f32(rng, T, K, -2, 2);
      Host pos(1, T, GgmlType::I32);
      std::uniform_int_distribution<int32_t> pick(0, 100000);
      for (int64_t t = 0; t < T; ++t) reinterpret_cast<int32_t*>(pos.bytes.data())[t] = pick(rng);
      // Reference.
      Host h(T, K), g(T, F), u(T, F), y(T, K), want(T, K), want_n(T, K);
      cpu::ref::rms_norm(x.t, norm.t, 1e-6f, h.t);
      cpu::ref::matmul(h.t, wg.t, g.t);
      cpu::ref::matmul(h.t, wu.t, u.t);
      cpu::ref::glu(g.t, u.t, GluActivation::Silu, g.t);
      cpu::ref::matmul(g.t, wd.t, y.t);
      cpu::ref::rope(y.t, pos.t, rp);
      cpu::ref::add(x.t, y.t, want.t);
      cpu::ref::rms_norm(want.t, norm.t, 1e-6f, want_n.t);
      // Device.
      Tensor dx = to_device(x), dpos = to_device(pos), dh = be->scratch(T, K), dg = be->scratch(T, F),
             du = be->scratch(T, F), dy = be->scratch(T, K), dout = be->scratch(T, K), dn = be->scratch(T, K);
      be->rms_norm(dx, dnorm, 1e-6f, dh);
      be->matmul(dh, dwg, dg);
      be->matmul(dh, dwu, du);
      be->glu(dg, du, GluActivation::Silu, dg);
      be->matmul(dg, dwd, dy);
      be->rope(dy, dpos, rp);
      be->add(dx, dy, dout);
      be->rms_norm(dout, dnorm, 1e-6f, dn);  // fused with the add when recorded
      Host got = from_device(dout), got_n = from_device(dn);
      for (auto [g_, w_] : {std::pair<Host*, Host*>{&got, &want}, {&got_n, &want_n}}) {
        double err = 0, ref = 0;
        for (int64_t t = 0; t < T; ++t)
          for (int64_t c = 0; c < K; ++c) {
            err += std::pow(double(g_->f(t)[c]) - w_->f(t)[c], 2);
            ref += std::pow(double(w_->f(t)[c]), 2);
          }
        // int8 activations in three chained mat-vecs: ~1e-2 at most; a stale
        // input or a wrong quantized activation gives O(1).
        ASSERT_LT(std::sqrt(err / ref), 2e-2) << "T=" << T << " step " << it << (g_ == &got ? " sum" : " norm");
      }
    }
  }
#ifdef KILN_HAVE_CUDA
  const cuda::GraphCounts after = cuda::graph_counts(*be);
  const char* env = std::getenv("KILN_CUDA_GRAPHS");
  if (env && std::string(env) == "1") {
    // Per shape: one eager step (workspaces grow), one capture, four replays.
    EXPECT_GE(after.replays - before.replays, 3 * 3) << "captures " << after.captures - before.captures;
  } else {
    EXPECT_EQ(after.replays, 0);
  }
#endif
}

// The bytes of one stored K or V row of head h at a slot, read back from
// wherever the cache lives (device memory after the move: a download).
std::vector<uint8_t> stored_row(const kv::KvCache& cache, int layer, int64_t slot, int h, bool is_k) {
  const int g = cache.group_of_layer(layer);
  const kv::BlockLayout& l = cache.layout(g);
  const kv::BlockId block = kv::BlockId(slot / cache.block_size());
  const size_t off = size_t(slot % cache.block_size());
  const uint8_t* base = cache.pool(g).storage().data();
  const uint8_t* row = (is_k ? cache.k_data(layer, block) + h * l.k_head_stride + off * l.k_row_bytes
                             : cache.v_data(layer, block) + h * l.v_head_stride + off * l.v_row_bytes);
  std::vector<uint8_t> bytes(is_k ? l.k_row_bytes : l.v_row_bytes);
  cache.pool(g).storage().read(size_t(row - base), bytes.size(), bytes.data());
  return bytes;
}

// Llama-like heads (32 query heads over 8 KV heads of 128 unless given) through a cache:
// a 700-token prefill in chunks, then decode steps whose keys are split. The
// GPU's cache moves to device memory, where host code cannot read it, so the
// reference runs on a twin cache in host memory that sees the same appends
// (same block allocation), and the stored K/V rows are compared byte for byte.
void attention_case(CudaOpsTest& test, kv::KvType type, int window, int kHeads = 32, int kKvHeads = 8, int kDim = 128) {
  constexpr int kBlock = 32;
  kv::CacheConfig cfg;
  cfg.block_size = kBlock;
  cfg.type = type;
  cfg.groups = {{.layers = {0}, .n_kv_heads = kKvHeads, .k_head_dim = kDim, .v_head_dim = kDim, .window = window,
                 .num_blocks = 64}};
  cfg.max_sequences = 2;
  cfg.model_identity = "cuda-ops-test";
  kv::KvCache cache(cfg), ref_cache(cfg);
  kv::BatchMetadata meta(cache, 2, 512, 64), ref_meta(ref_cache, 2, 512, 64);
  const kv::SeqId s = cache.create_sequence(), rs = ref_cache.create_sequence();
  Backend& be = *test.be;
  int64_t next_token = 0;
  auto step = [&](int n) {
    std::vector<kv::Token> toks(static_cast<size_t>(n));
    for (auto& t : toks) t = kv::Token(next_token++ % 1000);
    cache.append(s, toks);
    ref_cache.append(rs, toks);
    const kv::BatchEntry e{s, n}, re{rs, n};
    meta.build(cache, std::span<const kv::BatchEntry>(&e, 1));
    ref_meta.build(ref_cache, std::span<const kv::BatchEntry>(&re, 1));
    be.begin_step();
    Host q = random_f32(test.rng, n, kHeads * kDim, -1, 1), k = random_f32(test.rng, n, kKvHeads * kDim, -1, 1),
         v = random_f32(test.rng, n, kKvHeads * kDim), want(n, kHeads * kDim);
    const AttentionParams p{0, kHeads, kKvHeads, kDim, 1.0f / std::sqrt(float(kDim)), 0.f};
    Tensor dq = test.to_device(q), dk = test.to_device(k), dv = test.to_device(v), dout = be.scratch(n, kHeads * kDim);
    be.attention(dq, dk, dv, cache, meta, p, dout);
    Host got = test.from_device(dout);
    cpu::ref::attention(q.t, k.t, v.t, ref_cache, ref_meta, p, want.t);
    // What the GPU stored is what the CPU quantizer stored for the same rows.
    for (int64_t t = 0; t < n; ++t) {
      const int64_t slot = meta.group(0).slot_mapping[size_t(t)], ref_slot = ref_meta.group(0).slot_mapping[size_t(t)];
      ASSERT_EQ(slot, ref_slot) << "the twin caches allocated different blocks";
      for (int h = 0; h < kKvHeads; ++h)
        for (bool is_k : {true, false})
          ASSERT_EQ(stored_row(cache, 0, slot, h, is_k), stored_row(ref_cache, 0, ref_slot, h, is_k))
              << (is_k ? "K" : "V") << " stored by the GPU, token " << t << " of a chunk of " << n << ", head " << h;
    }
    cache.mark_computed(s);
    ref_cache.mark_computed(rs);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t c = 0; c < kHeads * kDim; ++c)
        ASSERT_NEAR(got.f(t)[c], want.f(t)[c], 2e-4 * (1 + std::abs(want.f(t)[c])))
            << "chunk of " << n << " at length " << cache.length(s) << ", token " << t << " value " << c;
  };
  step(300);
  step(400);
  for (int i = 0; i < 3; ++i) step(1);
  step(5);
}

TEST_F(CudaOpsTest, AttentionLongF16) { attention_case(*this, kv::KvType::F16, 0); }
TEST_F(CudaOpsTest, AttentionLongQ8_0) { attention_case(*this, kv::KvType::Q8_0, 0); }
TEST_F(CudaOpsTest, AttentionLongWindow) { attention_case(*this, kv::KvType::F16, 333); }
// Gemma-3-270M's heads: 4 query heads on one KV head of 256.
TEST_F(CudaOpsTest, AttentionHeadDim256) { attention_case(*this, kv::KvType::F16, 0, 4, 1, 256); }
// Qwen2.5-0.5B's: 14 on 2 of 64 (seven query heads per KV head).
TEST_F(CudaOpsTest, AttentionHeadDim64Group7) { attention_case(*this, kv::KvType::F16, 0, 14, 2, 64); }

// The cache moves into device memory at the first attention call and its
// bookkeeping keeps working: a fork's copy-on-write copies device blocks.
TEST_F(CudaOpsTest, CacheMovesToDeviceAndForks) {
  kv::CacheConfig cfg;
  cfg.block_size = 16;
  cfg.groups = {{.layers = {0}, .n_kv_heads = 1, .k_head_dim = 32, .v_head_dim = 32, .num_blocks = 8}};
  cfg.max_sequences = 2;
  cfg.model_identity = "cuda-fork";
  kv::KvCache cache(cfg);
  kv::BatchMetadata meta(cache, 2, 16, 8);
  const void* before = cache.pool(0).storage().data();
  const kv::SeqId a = cache.create_sequence();
  std::vector<kv::Token> toks = {1, 2, 3};
  cache.append(a, toks);
  const kv::BatchEntry e{a, 3};
  meta.build(cache, std::span<const kv::BatchEntry>(&e, 1));
  Host q = random_f32(rng, 3, 32), k = random_f32(rng, 3, 32), v = random_f32(rng, 3, 32);
  Tensor dq = to_device(q), dk = to_device(k), dv = to_device(v), out = be->scratch(3, 32);
  be->attention(dq, dk, dv, cache, meta, {0, 1, 1, 32, 0.2f, 0.f}, out);
  from_device(out);
  cache.mark_computed(a);
  EXPECT_NE(cache.pool(0).storage().data(), before);
  EXPECT_NE(cache.pool(0).storage().owner(), nullptr);
  const kv::SeqId b = cache.fork(a);
  std::vector<kv::Token> more = {9};
  cache.append(b, more);  // copy-on-write of the shared tail block, on the device
  // b's copy of the shared tail block holds a's first three rows.
  EXPECT_FALSE(cache.pool(0).storage().host_accessible());
  EXPECT_THROW(cache.gather(a, 0, 0, 3, nullptr, nullptr), kiln::Error);
  kv::BatchMetadata meta_b(cache, 2, 16, 8);
  const kv::BatchEntry eb{b, 1};
  meta_b.build(cache, std::span<const kv::BatchEntry>(&eb, 1));
  const int64_t b_slot = meta_b.group(0).slot_mapping[0];  // b's 4th token, in its copied block
  ASSERT_NE(b_slot / 16, meta.group(0).slot_mapping[0] / 16) << "no copy-on-write happened";
  for (int64_t t = 0; t < 3; ++t)
    for (bool is_k : {true, false})
      EXPECT_EQ(stored_row(cache, 0, meta.group(0).slot_mapping[size_t(t)], 0, is_k),
                stored_row(cache, 0, b_slot - 3 + t, 0, is_k))
          << (is_k ? "K" : "V") << " row " << t;
  cache.check_invariants();
}

}  // namespace
}  // namespace kiln::backend
