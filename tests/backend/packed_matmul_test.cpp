// Weights repacked into 16-row interleaved groups (backend/cpu/packed.h)
// against the same weights in their GGUF layout: the packed kernels compute
// the same integer block dots, so the two may differ only by the order of the
// f32 additions of per-block terms. Each term is dw*da*dot with
// |term| <= sum over its block of |w_k| * 2 * amax(x's block), so
//   |packed - rows| <= (#blocks + 8) * 2^-22 * sum_k |w_k| * 2 * amax(block of k)
// (two roundings per term, any summation order). The GGUF-layout path is itself
// checked against an outside reference in matmul_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/matmul_kernels.h"
#include "backend/cpu/packed.h"
#include "core/quant/quant.h"
#include "gguf/gguf.h"

namespace kiln::cpu {
namespace {

const GgmlType kPackedTypes[] = {GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q8_0};

bool have_avx512() { return host_matmul_isa() >= MatmulIsa::avx512; }

std::vector<uint8_t> random_weights(GgmlType t, int64_t N, int64_t K, size_t stride, std::mt19937& rng) {
  std::vector<uint8_t> w(stride * size_t(N));
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    const float shift = 0.5f * normal(rng);
    for (auto& v : row) v = normal(rng) + shift;
    quantize_row(t, row.data(), w.data() + size_t(n) * stride, K);
  }
  return w;
}

std::vector<float> random_x(int64_t T, int64_t K, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(size_t(T * K));
  for (auto& v : x) v = normal(rng);
  for (int64_t t = 0; t < T; ++t) x[size_t(t * K + (t * 7) % K)] *= 8.f;  // an outlier per row
  return x;
}

// The reordering bound of the header comment, per output.
std::vector<double> reorder_bound(GgmlType t, const std::vector<uint8_t>& w, size_t stride, const std::vector<float>& x,
                                  int64_t T, int64_t N, int64_t K) {
  std::vector<float> wr(static_cast<size_t>(K));
  std::vector<double> bound(size_t(T * N));
  for (int64_t n = 0; n < N; ++n) {
    dequantize_row(t, w.data() + size_t(n) * stride, wr.data(), K);
    for (int64_t tt = 0; tt < T; ++tt) {
      double s = 0;
      for (int64_t b = 0; b < K / 32; ++b) {
        double amax = 0, wsum = 0;
        for (int64_t k = 32 * b; k < 32 * b + 32; ++k) {
          amax = std::max(amax, std::fabs(double(x[size_t(tt * K + k)])));
          wsum += std::fabs(double(wr[size_t(k)]));
        }
        s += wsum * 2 * amax;
      }
      bound[size_t(tt * N + n)] = double(K / 32 + 8) * 0x1p-22 * s + 1e-30;
    }
  }
  return bound;
}

TEST(PackedMatmul, MatchesTheRowLayoutForEveryShape) {
  if (!have_avx512()) GTEST_SKIP() << "packed kernels need AVX-512 VNNI";
  runtime::ThreadPool pool(2);
  std::mt19937 rng(99);
  int checked = 0;
  for (GgmlType t : kPackedTypes)
    for (int64_t T : {1, 3, 8, 9, 17, 70})
      for (int64_t N : {16, 33, 100})
        for (int64_t K : {32, 96, 896}) {
          const size_t stride = row_bytes(t, K) + 6;  // padded rows: the packer honours the stride
          const auto w = random_weights(t, N, K, stride, rng);
          const auto x = random_x(T, K, rng);
          const PackedWeights pw(w.data(), t, N, K, stride);
          ASSERT_EQ(pw.packed_rows(), N / 16 * 16);
          std::vector<float> rows(size_t(T * N)), packed(size_t(T * N));
          MatmulScratch scratch(MatmulIsa::avx512);
          matmul(x.data(), T, K, size_t(K) * 4, w.data(), t, N, stride, rows.data(), size_t(N) * 4, pool, scratch);
          matmul(x.data(), T, K, size_t(K) * 4, pw, packed.data(), size_t(N) * 4, pool, scratch);
          const auto bound = reorder_bound(t, w, stride, x, T, N, K);
          for (size_t i = 0; i < rows.size(); ++i)
            ASSERT_LE(std::fabs(double(packed[i]) - double(rows[i])), bound[i])
                << type_name(t) << " T=" << T << " N=" << N << " K=" << K << " at " << i << ": " << packed[i]
                << " vs " << rows[i];
          ++checked;
        }
  EXPECT_EQ(checked, 3 * 6 * 3 * 3);
}

TEST(PackedMatmul, ThreadCountDoesNotChangeResults) {
  if (!have_avx512()) GTEST_SKIP() << "packed kernels need AVX-512 VNNI";
  std::mt19937 rng(5);
  const int64_t T = 130, N = 301, K = 512;
  const auto w = random_weights(GgmlType::Q5_0, N, K, row_bytes(GgmlType::Q5_0, K), rng);
  const auto x = random_x(T, K, rng);
  const PackedWeights pw(w.data(), GgmlType::Q5_0, N, K, row_bytes(GgmlType::Q5_0, K));
  std::vector<float> a(size_t(T * N)), b(size_t(T * N));
  runtime::ThreadPool one(1), two(2);
  MatmulScratch s1(MatmulIsa::avx512), s2(MatmulIsa::avx512);
  matmul(x.data(), T, K, size_t(K) * 4, pw, a.data(), size_t(N) * 4, one, s1);
  matmul(x.data(), T, K, size_t(K) * 4, pw, b.data(), size_t(N) * 4, two, s2);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4));
}

// A scratch of a lower ISA runs the row kernels on the original weights.
TEST(PackedMatmul, LowerIsaUsesTheOriginalRows) {
  std::mt19937 rng(6);
  const int64_t T = 5, N = 48, K = 256;
  const auto w = random_weights(GgmlType::Q8_0, N, K, row_bytes(GgmlType::Q8_0, K), rng);
  const auto x = random_x(T, K, rng);
  const PackedWeights pw(w.data(), GgmlType::Q8_0, N, K, row_bytes(GgmlType::Q8_0, K));
  std::vector<float> a(size_t(T * N)), b(size_t(T * N));
  runtime::ThreadPool pool(1);
  MatmulScratch scratch(MatmulIsa::scalar);
  matmul(x.data(), T, K, size_t(K) * 4, w.data(), GgmlType::Q8_0, N, row_bytes(GgmlType::Q8_0, K), a.data(),
         size_t(N) * 4, pool, scratch);
  matmul(x.data(), T, K, size_t(K) * 4, pw, b.data(), size_t(N) * 4, pool, scratch);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4));
}

TEST(PackedMatmul, BadSizesAreErrors) {
  std::vector<uint8_t> w(4096);
  EXPECT_THROW(PackedWeights(w.data(), GgmlType::Q4_K, 16, 256, 144), kiln::Error);  // no packed layout
  EXPECT_THROW(PackedWeights(w.data(), GgmlType::Q8_0, 16, 48, 34), kiln::Error);    // K not a multiple of 32
  EXPECT_THROW(PackedWeights(w.data(), GgmlType::Q8_0, 16, 64, 60), kiln::Error);    // stride below a row
}

// Through the backend: rebinding the same memory with new contents repacks
// it, and a row view of a packed weight (another data pointer) still works.
TEST(PackedMatmul, BackendRebindAndRowViews) {
  std::mt19937 rng(8);
  const int64_t T = 4, N = 40, K = 128;
  const GgmlType t = GgmlType::Q5_0;
  const size_t rb = row_bytes(t, K);
  CpuBackend be(CpuBackendOptions{.threads = 2, .repack = true});
  be.reserve_scratch({.tensor_bytes = size_t(1) << 20, .max_tokens = T, .max_row = K});
  std::vector<uint8_t> memory(rb * size_t(N));
  const auto x = random_x(T, K, rng);
  gguf::TensorInfo info;
  info.name = "w";
  info.type = t;
  info.shape = {K, N};
  info.nbytes = memory.size();
  info.data = memory.data();
  for (int round = 0; round < 2; ++round) {
    const auto w = random_weights(t, N, K, rb, rng);
    std::memcpy(memory.data(), w.data(), memory.size());
    const backend::Tensor wt = be.bind_weight(info);
    be.begin_step();
    backend::Tensor dx = be.scratch(T, K), dy = be.scratch(T, N);
    be.upload(x.data(), dx);
    be.matmul(dx, wt, dy);
    std::vector<float> got(size_t(T * N)), want(size_t(T * N));
    be.download(dy, got.data());
    runtime::ThreadPool pool(1);
    MatmulScratch scratch(MatmulIsa::scalar);
    matmul(x.data(), T, K, size_t(K) * 4, w.data(), t, N, rb, want.data(), size_t(N) * 4, pool, scratch);
    const auto bound = reorder_bound(t, w, rb, x, T, N, K);
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_LE(std::fabs(double(got[i]) - double(want[i])), bound[i]) << "round " << round << " at " << i;
    // Rows 3..35 of the same weight: not the packed pointer, read as rows.
    const backend::Tensor view = wt.row_range(3, 32);
    backend::Tensor vy = be.scratch(T, 32);
    be.matmul(dx, view, vy);
    std::vector<float> vgot(size_t(T * 32));
    be.download(vy, vgot.data());
    for (int64_t tt = 0; tt < T; ++tt)
      for (int64_t n = 0; n < 32; ++n)
        ASSERT_LE(std::fabs(double(vgot[size_t(tt * 32 + n)]) - double(want[size_t(tt * N + 3 + n)])),
                  bound[size_t(tt * N + 3 + n)])
            << "view at t=" << tt << " n=" << n;
  }
}

}  // namespace
}  // namespace kiln::cpu

namespace kiln::cpu {
namespace {

// The AVX-512 activation quantizer writes the same bytes as the portable one
// (so every ISA's integer dots agree), including zero and non-finite blocks.
void expect_same_act_bytes(void (*quantize)(const float*, const mm::Acts&, int64_t)) {
  std::mt19937 rng(11);
  for (mm::ActFormat f : {mm::ActFormat::q8_32, mm::ActFormat::q8_256})
    for (int64_t K : {256, 896, 4864}) {
      if (f == mm::ActFormat::q8_256 && K % 256 != 0) continue;
      const size_t rb = mm::act_row_bytes(f, K);
      std::vector<uint8_t> a(rb * 4 + 64), b(rb * 4 + 64);
      uint8_t* pa = a.data() + (64 - reinterpret_cast<uintptr_t>(a.data()) % 64) % 64;
      uint8_t* pb = b.data() + (64 - reinterpret_cast<uintptr_t>(b.data()) % 64) % 64;
      std::memset(pa, 0, rb * 4);
      std::memset(pb, 0, rb * 4);
      const mm::Acts acts_a = mm::make_acts(f, K, pa), acts_b = mm::make_acts(f, K, pb);
      auto x = random_x(4, K, rng);
      for (int64_t k = 0; k < 64; ++k) x[size_t(K + k)] = 0.f;  // a zero block in row 1
      x[size_t(2 * K + 40)] = INFINITY;                        // row 2: inf
      x[size_t(3 * K + 3)] = NAN;                              // row 3: nan
      for (int64_t t = 0; t < 4; ++t) {
        mm::quantize_act_row(x.data() + t * K, acts_a, t);
        quantize(x.data() + t * K, acts_b, t);
      }
      // Compare field by field (nan scales compare by bits).
      ASSERT_EQ(0, std::memcmp(pa, pb, rb * 4)) << "K=" << K << " format " << int(f);
    }
}

TEST(ActivationQuantizer, Avx512MatchesThePortableBytes) {
  if (!have_avx512()) GTEST_SKIP() << "needs AVX-512";
  expect_same_act_bytes(mm::quantize_act_row_avx512);
}

TEST(ActivationQuantizer, Avx2MatchesThePortableBytes) {
  if (host_matmul_isa() < MatmulIsa::avx2) GTEST_SKIP() << "needs AVX2";
  expect_same_act_bytes(mm::quantize_act_row_avx2);
}

}  // namespace
}  // namespace kiln::cpu
