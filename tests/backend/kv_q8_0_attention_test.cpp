// Attention through a q8_0 KV cache on keys shaped like Qwen2's: a large
// bias in a few dimensions (values of ~150 next to values of ~1) shared by
// every key, the per-token part small. Plain q8_0 rounds every value of a 32-
// value block to a step of amax/127 (~1.2 here), which moves the scores of
// different keys by different amounts. In qwen2.5-0.5b's first layer that is
// 2-4 on scores near 900 whose differences are a few units: the softmax of
// whole heads reordered, KL(f16 || q8_0) 9 at position 1 and 5x llama.cpp's
// mean. Rows are now stored Hadamard-rotated (kv/kv_row_codec.h), which
// spreads the outliers before rounding.
//
// Checked against exact attention in double over the unquantized K/V, for
// the CPU kernel and for the scalar reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/ops_ref.h"
#include "core/arena.h"
#include "core/threadpool.h"
#include "core/quant/quant.h"
#include "kv/batch_metadata.h"
#include "kv/kv_cache.h"
#include "kv/kv_row_codec.h"

namespace kiln::backend {
namespace {

constexpr int kHeads = 14, kKvHeads = 2, kDim = 64, kTokens = 48;

struct Rows {
  std::vector<float> data;
  Tensor t;
  Rows(int64_t rows, int64_t cols) : data(size_t(rows * cols)) {
    t = Tensor{data.data(), GgmlType::F32, rows, cols, size_t(cols) * sizeof(float)};
  }
  float* row(int64_t r) { return data.data() + r * t.cols; }
};

// Qwen-like K: per KV head a shared bias with two outliers (the last
// dimension of each rotary half, the low-frequency pair), small per-token
// parts; queries with larger values in the same dimensions.
struct Inputs {
  Rows q{kTokens, kHeads * kDim}, k{kTokens, kKvHeads * kDim}, v{kTokens, kKvHeads * kDim};
  explicit Inputs(uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n01(0.f, 1.f);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> bias(size_t(kKvHeads * kDim));
    for (size_t i = 0; i < bias.size(); ++i) bias[i] = 2.f * n01(rng);
    for (int h = 0; h < kKvHeads; ++h) {
      bias[size_t(h * kDim + 31)] = 150.f;
      bias[size_t(h * kDim + 63)] = -140.f;
    }
    for (int t = 0; t < kTokens; ++t) {
      for (int i = 0; i < kKvHeads * kDim; ++i) {
        k.row(t)[i] = bias[size_t(i)] + n01(rng);
        v.row(t)[i] = u(rng);
      }
      for (int i = 0; i < kHeads * kDim; ++i) q.row(t)[i] = 2.f * u(rng);
      for (int h = 0; h < kHeads; ++h) {
        q.row(t)[h * kDim + 31] = 10.f + u(rng);
        q.row(t)[h * kDim + 63] = -8.f + u(rng);
      }
    }
  }
};

// Plain (unrotated) q8_0 storage of every head row: what the cache stored
// before the rotation.
void plain_q8_0(Rows& x) {
  std::vector<uint8_t> buf(row_bytes(GgmlType::Q8_0, kDim));
  for (int64_t t = 0; t < x.t.rows; ++t)
    for (int64_t h = 0; h < x.t.cols / kDim; ++h) {
      quantize_row(GgmlType::Q8_0, x.row(t) + h * kDim, buf.data(), kDim);
      dequantize_row(GgmlType::Q8_0, buf.data(), x.row(t) + h * kDim, kDim);
    }
}

// Causal attention of one prompt, in double, over the given K/V.
void exact_attention(Inputs& in, float scale, Rows& out) {
  const int group = kHeads / kKvHeads;
  std::vector<double> s(static_cast<size_t>(kTokens));
  for (int t = 0; t < kTokens; ++t)
    for (int h = 0; h < kHeads; ++h) {
      const float* qh = in.q.row(t) + h * kDim;
      const int kvh = h / group;
      double mx = -INFINITY, sum = 0;
      for (int j = 0; j <= t; ++j) {
        double d = 0;
        for (int c = 0; c < kDim; ++c) d += double(qh[c]) * double(in.k.row(j)[kvh * kDim + c]);
        s[size_t(j)] = d * scale;
        mx = std::max(mx, s[size_t(j)]);
      }
      for (int j = 0; j <= t; ++j) sum += (s[size_t(j)] = std::exp(s[size_t(j)] - mx));
      for (int c = 0; c < kDim; ++c) {
        double a = 0;
        for (int j = 0; j <= t; ++j) a += s[size_t(j)] / sum * double(in.v.row(j)[kvh * kDim + c]);
        out.row(t)[h * kDim + c] = float(a);
      }
    }
}

double mean_abs_diff(const Rows& a, const Rows& b) {
  double m = 0;
  for (size_t i = 0; i < a.data.size(); ++i) m += double(std::abs(a.data[i] - b.data[i]));
  return m / double(a.data.size());
}

enum class Path { Kernel, Reference, PlainQ8_0 };

// Mean |attention through a cache of `type` - exact attention| over a
// prefill of kTokens (blocks of 16) of seeded Qwen-like inputs.
double cache_error(kv::KvType type, Path path, uint32_t seed) {
  kv::CacheConfig cfg;
  cfg.block_size = 16;
  cfg.type = type;
  cfg.groups = {{.layers = {0}, .n_kv_heads = kKvHeads, .k_head_dim = kDim, .v_head_dim = kDim, .num_blocks = 8}};
  cfg.max_sequences = 1;
  cfg.model_identity = "q8_0-outliers";
  kv::KvCache cache(cfg);
  kv::BatchMetadata meta(cache, 1, kTokens, 8);
  const kv::SeqId s = cache.create_sequence();
  std::vector<kv::Token> toks(kTokens);
  for (int i = 0; i < kTokens; ++i) toks[size_t(i)] = kv::Token(i);
  cache.append(s, toks);
  const kv::BatchEntry e{s, kTokens};
  meta.build(cache, std::span<const kv::BatchEntry>(&e, 1));

  Inputs in(seed);
  const AttentionParams p{0, kHeads, kKvHeads, kDim, 1.0f / 8.0f, 0.f};
  Rows got(kTokens, kHeads * kDim), want(kTokens, kHeads * kDim);
  if (path == Path::Kernel) {
    runtime::ThreadPool pool(runtime::ThreadPool::Options{.threads = 2});
    runtime::Arena arena(size_t(8) << 20, "q8_0 attention test");
    cpu::paged_attention(in.q.t, in.k.t, in.v.t, cache, meta, p, got.t, pool, arena);
  } else if (path == Path::Reference) {
    cpu::ref::attention(in.q.t, in.k.t, in.v.t, cache, meta, p, got.t);
  } else {
    Inputs rounded(seed);
    plain_q8_0(rounded.k);
    plain_q8_0(rounded.v);
    exact_attention(rounded, p.scale, got);
  }
  exact_attention(in, p.scale, want);
  return mean_abs_diff(got, want);
}

TEST(KvQ8_0Attention, OutlierKeysKeepTheirOrder) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    const double f16 = cache_error(kv::KvType::F16, Path::Kernel, seed);
    const double kernel = cache_error(kv::KvType::Q8_0, Path::Kernel, seed);
    const double ref = cache_error(kv::KvType::Q8_0, Path::Reference, seed);
    const double plain = cache_error(kv::KvType::F16, Path::PlainQ8_0, seed);
    // Mean |error| of outputs (V in [-1, 1]). Plain q8_0 storage: 0.047-0.052
    // on these seeds (the cache before the rotation gave exactly that);
    // rotated: 0.020-0.029; an f16 cache: 0.007-0.010 (f16 itself rounds the
    // 150s to steps of 0.125).
    EXPECT_GT(plain, 0.04) << "seed " << seed << ": the scenario no longer stresses plain q8_0";
    EXPECT_LT(kernel, 0.036) << "seed " << seed << " (plain q8_0: " << plain << ", f16 cache: " << f16 << ")";
    EXPECT_LT(ref, 0.036) << "seed " << seed << " (plain q8_0: " << plain << ", f16 cache: " << f16 << ")";
    std::printf("seed %u: mean |error| f16 %.4f, q8_0 kernel %.4f, q8_0 reference %.4f, plain q8_0 %.4f\n", seed, f16,
                kernel, ref, plain);
  }
}

// The rotation is orthonormal and its own inverse, and it is the Sylvester
// Hadamard matrix (H[i][j] = (-1)^popcount(i & j) / sqrt(n)) that llama.cpp
// builds for its quantized caches.
TEST(KvQ8_0Attention, HadamardRotationIsSylvesterAndInvolutive) {
  std::mt19937 rng(7);
  std::normal_distribution<float> n01(0.f, 1.f);
  for (int n : {32, 64, 128, 256}) {
    std::vector<float> x(static_cast<size_t>(2 * n)), y;
    for (float& f : x) f = n01(rng);
    y = x;
    kv::hadamard_rotate(y.data(), 2 * n, n);
    for (int blk = 0; blk < 2; ++blk)
      for (int i = 0; i < n; ++i) {
        double want = 0;
        for (int j = 0; j < n; ++j)
          want += (__builtin_popcount(unsigned(i & j)) % 2 ? -1.0 : 1.0) * double(x[size_t(blk * n + j)]);
        want /= std::sqrt(double(n));
        EXPECT_NEAR(y[size_t(blk * n + i)], want, 1e-4) << "n " << n << " row " << i;
      }
    kv::hadamard_rotate(y.data(), 2 * n, n);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 1e-5) << "n " << n;
  }
  EXPECT_EQ(kv::k_rotation(kv::KvType::F16, 64), 0);
  EXPECT_EQ(kv::k_rotation(kv::KvType::Q8_0, 64), 64);
  EXPECT_EQ(kv::k_rotation(kv::KvType::Q8_0, 128), 128);
  EXPECT_EQ(kv::k_rotation(kv::KvType::Q8_0, 256), 256);
  EXPECT_EQ(kv::k_rotation(kv::KvType::Q8_0, 96), 32);
  EXPECT_EQ(kv::v_rotation(kv::KvType::Q8_0, 256), 64);
  EXPECT_EQ(kv::v_rotation(kv::KvType::Q8_0, 96), 32);
}

}  // namespace
}  // namespace kiln::backend
