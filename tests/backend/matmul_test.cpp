// kiln::cpu::matmul against an outside reference: the weights dequantized by
// core/quant (bit-exact with ggml) and dotted with x in double precision.
//
// Tolerances:
// - Quantized weights (int8 activations): each x[k] is replaced by d*q with
//   q = round(x * 127/amax), so |x - (amax/127) q| <= amax(x's block)/254; a
//   32-value block keeps d = amax/127 rounded to f16 as ggml does (relative
//   error <= 2^-11, times |q| <= 127: at most amax/2048 more), so
//     |y - y_ref| <= sum_k |w[k]| * amax(block of k) * (1/254 + 1/2048)
//   plus f32 rounding, for which we add 1e-5 * sum_k |w[k] x[k]| (far above the
//   ~K * 2^-24 relative error of the f32 scale products and sums here).
// - f32/f16/bf16 weights (x not quantized): f32 accumulation of K products,
//   |error| <= K * 2^-24 * sum_k |w[k] x[k]| (the standard recursive-sum bound).
// - SIMD vs scalar integer path: the integers are identical, only the f32
//   additions of per-block terms are reordered. Each term is at most
//   3 * max|w in its 32-group| * amax (scale and min parts separately), so the
//   difference is bounded by (#blocks) * 2^-23 * sum of those bounds; we use
//   that bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/matmul.h"
#include "backend/cpu/matmul_kernels.h"
#include "core/error.h"
#include "core/fp16.h"
#include "core/quant/blocks.h"
#include "core/quant/quant.h"

namespace kiln::cpu {
namespace {

const GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,   GgmlType::Q4_0,  GgmlType::Q4_1,
                           GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,   GgmlType::Q2_K,  GgmlType::Q3_K,
                           GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K,   GgmlType::IQ4_NL, GgmlType::IQ4_XS,
                           GgmlType::TQ1_0, GgmlType::TQ2_0, GgmlType::MXFP4};

bool int_path(GgmlType t) {
  return traits(t).quantized && t != GgmlType::TQ1_0 && t != GgmlType::TQ2_0 && t != GgmlType::MXFP4;
}

std::vector<MatmulIsa> host_isas() {
  std::vector<MatmulIsa> isas;
  for (int i = 0; i <= int(host_matmul_isa()); ++i) isas.push_back(MatmulIsa(i));
  return isas;
}

// N random weight rows of K values of type t, rows `stride` bytes apart.
std::vector<uint8_t> random_weights(GgmlType t, int64_t N, int64_t K, size_t stride, std::mt19937& rng) {
  std::vector<uint8_t> w(stride * size_t(N) + 64);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    uint8_t* dst = w.data() + size_t(n) * stride;
    if (can_quantize(t)) {
      // A per-row offset makes the K-quant minimums matter.
      const float shift = 0.5f * normal(rng);
      for (auto& v : row) v = normal(rng) + shift;
      quantize_row(t, row.data(), dst, K);
      continue;
    }
    // Types kiln cannot encode: random bits with sane scales.
    const size_t bytes = row_bytes(t, K), bb = traits(t).block_bytes;
    for (size_t i = 0; i < bytes; ++i) dst[i] = uint8_t(byte(rng));
    for (size_t b = 0; b < bytes / bb; ++b) {
      uint8_t* blk = dst + b * bb;
      const uint16_t d = fp32_to_fp16(0.01f + 0.05f * std::fabs(normal(rng)));
      if (t == GgmlType::IQ4_NL || t == GgmlType::IQ4_XS) std::memcpy(blk, &d, 2);
      if (t == GgmlType::TQ1_0 || t == GgmlType::TQ2_0) std::memcpy(blk + bb - 2, &d, 2);
      if (t == GgmlType::MXFP4) blk[0] = uint8_t(120 + byte(rng) % 8);
    }
  }
  return w;
}

struct Case {
  int64_t T, N, K;
};

// Everything a comparison needs, computed once per (type, shape).
struct Reference {
  std::vector<float> x, wdeq;
  std::vector<double> y, quant_bound, sum_abs, reorder_bound;
};

Reference make_reference(GgmlType t, const Case& c, const std::vector<uint8_t>& w, size_t w_stride, std::mt19937& rng) {
  Reference r;
  const int64_t T = c.T, N = c.N, K = c.K;
  std::normal_distribution<float> normal(0.f, 1.f);
  r.x.resize(size_t(T * K));
  for (auto& v : r.x) v = normal(rng);
  // An outlier per row, as real activations have: it sets its block's scale.
  for (int64_t tt = 0; tt < T; ++tt) r.x[size_t(tt * K + (tt * 7) % K)] *= 8.f;
  r.wdeq.resize(size_t(N * K));
  for (int64_t n = 0; n < N; ++n) dequantize_row(t, w.data() + size_t(n) * w_stride, r.wdeq.data() + n * K, K);
  const int block = traits(t).block_size >= 256 ? 256 : 32;
  r.y.assign(size_t(T * N), 0.0);
  r.quant_bound = r.sum_abs = r.reorder_bound = r.y;
  std::vector<float> amax(static_cast<size_t>(K));
  std::vector<float> wgroup(static_cast<size_t>(K));
  for (int64_t tt = 0; tt < T; ++tt) {
    const float* xr = r.x.data() + tt * K;
    for (int64_t b = 0; b < K / block; ++b) {
      float m = 0.f;
      for (int i = 0; i < block; ++i) m = std::max(m, std::fabs(xr[b * block + i]));
      std::fill(amax.begin() + b * block, amax.begin() + (b + 1) * block, m);
    }
    for (int64_t n = 0; n < N; ++n) {
      const float* wr = r.wdeq.data() + n * K;
      for (int64_t g = 0; g < K / 32; ++g) {
        float m = 0.f;
        for (int i = 0; i < 32; ++i) m = std::max(m, std::fabs(wr[g * 32 + i]));
        std::fill(wgroup.begin() + g * 32, wgroup.begin() + (g + 1) * 32, m);
      }
      double y = 0, qb = 0, sa = 0, rb = 0;
      for (int64_t k = 0; k < K; ++k) {
        y += double(xr[k]) * double(wr[k]);
        qb += std::fabs(double(wr[k])) * double(amax[size_t(k)]) * (1.0 / 254.0 + (block == 32 ? 1.0 / 2048.0 : 0.0));
        sa += std::fabs(double(xr[k]) * double(wr[k]));
        rb += 3.0 * double(wgroup[size_t(k)]) * double(amax[size_t(k)]);
      }
      const size_t i = size_t(tt * N + n);
      r.y[i] = y;
      r.quant_bound[i] = qb;
      r.sum_abs[i] = sa;
      r.reorder_bound[i] = rb * double(K / 32 + 8) * 0x1p-23;
    }
  }
  return r;
}

std::vector<float> run(GgmlType t, const Case& c, const Reference& r, const std::vector<uint8_t>& w, size_t w_stride,
                       MatmulIsa isa, runtime::ThreadPool& pool) {
  // Odd row strides for x and y exercise the stride arithmetic.
  const size_t xs = size_t(c.K + 3) * 4, ys = size_t(c.N + 5) * 4;
  std::vector<float> x(size_t(c.T) * (xs / 4)), y(size_t(c.T) * (ys / 4), NAN);
  for (int64_t tt = 0; tt < c.T; ++tt) std::copy_n(r.x.data() + tt * c.K, c.K, x.data() + tt * (xs / 4));
  MatmulScratch scratch(isa);
  matmul(x.data(), c.T, c.K, xs, w.data(), t, c.N, w_stride, y.data(), ys, pool, scratch);
  std::vector<float> out(size_t(c.T * c.N));
  for (int64_t tt = 0; tt < c.T; ++tt) std::copy_n(y.data() + tt * (ys / 4), c.N, out.data() + tt * c.N);
  return out;
}

class MatmulTypes : public ::testing::TestWithParam<GgmlType> {};

TEST_P(MatmulTypes, EveryIsaMatchesTheReferenceAndTheScalarPath) {
  const GgmlType t = GetParam();
  ASSERT_TRUE(matmul_supports(t));
  runtime::ThreadPool pool(2);
  std::mt19937 rng(1234 + uint32_t(t));
  const int64_t bs = traits(t).block_size == 1 ? 32 : traits(t).block_size;
  int checked = 0;
  for (int64_t T : {1, 3, 17, 64})
    for (int64_t N : {1, 7, 33, 257})
      for (int64_t mult : {1, 3, 7}) {
        const Case c{T, N, bs * mult};
        // Rows padded past their bytes: the kernels must honour w_stride.
        const size_t w_stride = (row_bytes(t, c.K) + 15) / 4 * 4;
        const auto w = random_weights(t, N, c.K, w_stride, rng);
        const Reference r = make_reference(t, c, w, w_stride, rng);
        std::vector<float> scalar;
        for (MatmulIsa isa : host_isas()) {
          const auto y = run(t, c, r, w, w_stride, isa, pool);
          const std::string where = std::string(type_name(t)) + " " + std::string(matmul_isa_name(isa)) +
                                    " T=" + std::to_string(T) + " N=" + std::to_string(N) + " K=" + std::to_string(c.K);
          for (size_t i = 0; i < y.size(); ++i) {
            const double tol = int_path(t) ? r.quant_bound[i] + 1e-5 * r.sum_abs[i] + 1e-30
                                           : double(c.K) * 0x1p-24 * r.sum_abs[i] + 1e-30;
            ASSERT_LE(std::fabs(double(y[i]) - r.y[i]), tol) << where << " at " << i << ": " << y[i] << " vs " << r.y[i];
          }
          if (isa == MatmulIsa::scalar) {
            scalar = y;
          } else if (int_path(t)) {
            for (size_t i = 0; i < y.size(); ++i)
              ASSERT_LE(std::fabs(double(y[i]) - double(scalar[i])), r.reorder_bound[i])
                  << where << " differs from the scalar int path at " << i << ": " << y[i] << " vs " << scalar[i];
          }
          ++checked;
        }
      }
  EXPECT_EQ(checked, 48 * int(host_isas().size()));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulTypes, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(type_name(info.param)); });

// The integer parts of every int8-route kernel equal the scalar kernel's.
// With power-of-two weight scales, activations that are small integers with
// one +-127 in every 32 values (so q = x and the activation scale is exactly
// 1 in both formats) and sums far below 2^24, every f32 operation after the
// integer dots is exact, so any ISA must give the scalar path's numbers
// bit for bit; a wrong bit, offset or scale in a SIMD decode shows up as a
// difference here even where the tolerance test above would absorb it.
TEST(Matmul, IntegerDotsEqualTheScalarPathExactly) {
  using namespace kiln::quant;
  struct Scales {
    GgmlType t;
    size_t d, dmin;  // byte offsets of the f16 scales in a block (dmin: SIZE_MAX if none)
  };
  constexpr size_t kNone = SIZE_MAX;
  const Scales kScaled[] = {
      {GgmlType::Q4_0, offsetof(BlockQ4_0, d), kNone},        {GgmlType::Q4_1, offsetof(BlockQ4_1, d), offsetof(BlockQ4_1, m)},
      {GgmlType::Q5_0, offsetof(BlockQ5_0, d), kNone},        {GgmlType::Q5_1, offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)},
      {GgmlType::Q8_0, offsetof(BlockQ8_0, d), kNone},        {GgmlType::IQ4_NL, offsetof(BlockIQ4_NL, d), kNone},
      {GgmlType::Q2_K, offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)},
      {GgmlType::Q3_K, offsetof(BlockQ3_K, d), kNone},
      {GgmlType::Q4_K, offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)},
      {GgmlType::Q5_K, offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)},
      {GgmlType::Q6_K, offsetof(BlockQ6_K, d), kNone},        {GgmlType::IQ4_XS, offsetof(BlockIQ4_XS, d), kNone}};
  runtime::ThreadPool pool(2);
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> byte(0, 255), small(-8, 8);
  int compared = 0;
  for (const Scales& s : kScaled) {
    const size_t bb = traits(s.t).block_bytes;
    for (int64_t T : {1, 3, 6})
      for (int64_t N : {1, 9})
        for (int64_t mult : {1, 3, 7}) {
          const int64_t K = traits(s.t).block_size * mult;
          const size_t stride = row_bytes(s.t, K);
          std::vector<uint8_t> w(stride * size_t(N));
          for (auto& v : w) v = uint8_t(byte(rng));
          const uint16_t d = fp32_to_fp16(0x1p-4f), dmin = fp32_to_fp16(0x1p-5f);
          for (size_t b = 0; b < w.size() / bb; ++b) {
            std::memcpy(w.data() + b * bb + s.d, &d, 2);
            if (s.dmin != kNone) std::memcpy(w.data() + b * bb + s.dmin, &dmin, 2);
          }
          std::vector<float> x(size_t(T * K));
          for (size_t i = 0; i < x.size(); ++i) x[i] = i % 32 == 0 ? (byte(rng) & 1 ? 127.f : -127.f) : float(small(rng));
          std::vector<float> scalar;
          for (MatmulIsa isa : host_isas()) {
            std::vector<float> y(size_t(T * N));
            MatmulScratch scratch(isa);
            matmul(x.data(), T, K, size_t(K) * 4, w.data(), s.t, N, stride, y.data(), size_t(N) * 4, pool, scratch);
            if (isa == MatmulIsa::scalar) {
              scalar = y;
              continue;
            }
            for (size_t i = 0; i < y.size(); ++i)
              ASSERT_EQ(y[i], scalar[i]) << type_name(s.t) << " " << matmul_isa_name(isa) << " T=" << T << " N=" << N
                                         << " K=" << K << " at " << i;
            ++compared;
          }
        }
  }
  if (host_matmul_isa() > MatmulIsa::scalar) EXPECT_GT(compared, 0);
}

// The SIMD levels this CPU has really have kernels of their own for the
// types models use (a missing table entry would silently run the scalar
// kernel, and the comparisons above would compare scalar with scalar).
TEST(Matmul, SimdKernelsExistForTheModelTypes) {
  const GgmlType kAvx2[] = {GgmlType::F32,  GgmlType::F16,    GgmlType::Q4_0, GgmlType::Q4_1,
                            GgmlType::Q5_0, GgmlType::Q5_1,   GgmlType::Q8_0, GgmlType::IQ4_NL,
                            GgmlType::Q4_K, GgmlType::Q5_K,   GgmlType::Q6_K, GgmlType::IQ4_XS};
  for (GgmlType t : kAvx2) {
    EXPECT_NE(mm::avx2_kernel(t), nullptr) << type_name(t);
    EXPECT_NE(mm::avx2_kernel(t), mm::scalar_kernel(t)) << type_name(t);
  }
  const GgmlType kAvx512[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q5_0,
                              GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};
  for (GgmlType t : kAvx512) EXPECT_NE(mm::avx512_kernel(t), nullptr) << type_name(t);
}

// Prefill splits T into bands of activation rows; a T over two bands and a
// single thread must give the same numbers as two threads.
TEST(Matmul, ThreadCountAndBandsDoNotChangeResults) {
  std::mt19937 rng(7);
  const Case c{130, 300, 512};
  const GgmlType t = GgmlType::Q4_K;
  const size_t ws = row_bytes(t, c.K);
  const auto w = random_weights(t, c.N, c.K, ws, rng);
  const Reference r = make_reference(t, c, w, ws, rng);
  for (MatmulIsa isa : host_isas()) {
    runtime::ThreadPool one(1), two(2);
    const auto a = run(t, c, r, w, ws, isa, one);
    const auto b = run(t, c, r, w, ws, isa, two);
    ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << matmul_isa_name(isa);
    for (size_t i = 0; i < a.size(); ++i) ASSERT_LE(std::fabs(a[i] - r.y[i]), r.quant_bound[i] + 1e-5 * r.sum_abs[i]);
  }
}

TEST(Matmul, ScratchIsReusedAfterWarmUp) {
  runtime::ThreadPool pool(2);
  MatmulScratch scratch;
  std::vector<float> x(64 * 256, 0.5f), y(64 * 64);
  std::vector<uint8_t> w(row_bytes(GgmlType::Q8_0, 256) * 64);
  std::vector<float> ones(256, 1.f);
  for (int n = 0; n < 64; ++n) quantize_row(GgmlType::Q8_0, ones.data(), w.data() + n * row_bytes(GgmlType::Q8_0, 256), 256);
  scratch.reserve(matmul_scratch_bytes(GgmlType::Q8_0, 64, 256, pool.size()));
  const void* before = scratch.data();
  for (int64_t T : {64, 1, 17})
    matmul(x.data(), T, 256, 256 * 4, w.data(), GgmlType::Q8_0, 64, row_bytes(GgmlType::Q8_0, 256), y.data(), 64 * 4,
           pool, scratch);
  EXPECT_EQ(before, scratch.data());
  // 256 * 0.5 * 1, up to the f16 rounding of Q8_0's scale 1/127 (< 2^-11).
  EXPECT_NEAR(y[0], 128.f, 128.f * 0x1p-11f);
}

TEST(Matmul, BorrowedScratchTooSmallIsAnError) {
  runtime::ThreadPool pool(1);
  alignas(64) static uint8_t block[256];
  MatmulScratch scratch(MatmulIsa::scalar, block, sizeof block);
  std::vector<float> x(4 * 256), y(4 * 4);
  std::vector<uint8_t> w(row_bytes(GgmlType::Q4_0, 256) * 4);
  EXPECT_THROW(matmul(x.data(), 4, 256, 1024, w.data(), GgmlType::Q4_0, 4, row_bytes(GgmlType::Q4_0, 256), y.data(), 16,
                      pool, scratch),
               kiln::Error);
}

TEST(Matmul, BadArgumentsAreErrors) {
  runtime::ThreadPool pool(1);
  MatmulScratch scratch(MatmulIsa::scalar);
  std::vector<float> x(256), y(4);
  std::vector<uint8_t> w(4096);
  // K not a multiple of the block size.
  EXPECT_THROW(matmul(x.data(), 1, 100, 400, w.data(), GgmlType::Q4_K, 1, 144, y.data(), 4, pool, scratch), kiln::Error);
  // A type without a decoder.
  EXPECT_THROW(matmul(x.data(), 1, 256, 1024, w.data(), GgmlType::IQ2_XXS, 1, 66, y.data(), 4, pool, scratch),
               kiln::Error);
  // Weight rows closer than a row's bytes.
  EXPECT_THROW(matmul(x.data(), 1, 256, 1024, w.data(), GgmlType::Q8_0, 2, 100, y.data(), 8, pool, scratch), kiln::Error);
}

// A non-finite activation poisons exactly the outputs it feeds, as in f32.
TEST(Matmul, NonFiniteActivationsGiveNan) {
  runtime::ThreadPool pool(1);
  std::vector<float> x(2 * 256, 1.f), y(2 * 2);
  x[5] = INFINITY;
  std::vector<float> ones(256, 1.f);
  const size_t rb = row_bytes(GgmlType::Q4_K, 256);
  std::vector<uint8_t> w(2 * rb);
  quantize_row(GgmlType::Q4_K, ones.data(), w.data(), 256);
  quantize_row(GgmlType::Q4_K, ones.data(), w.data() + rb, 256);
  for (MatmulIsa isa : host_isas()) {
    MatmulScratch scratch(isa);
    matmul(x.data(), 2, 256, 1024, w.data(), GgmlType::Q4_K, 2, rb, y.data(), 8, pool, scratch);
    EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1])) << matmul_isa_name(isa);
    EXPECT_NEAR(y[2], 256.f, 256.f / 254.f) << matmul_isa_name(isa);
  }
}

}  // namespace
}  // namespace kiln::cpu
