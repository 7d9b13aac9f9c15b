#pragma once
// Scalar reference implementations of every Backend op, on host tensors.
// Plain loops, double accumulation wherever a sum is taken: slow and obvious,
// the oracle tests/backend/ops_test.cpp checks every backend against. Same
// shapes and aliasing rules as the Backend methods they mirror.
#include "backend/backend.h"

namespace kiln::cpu::ref {

using backend::AttentionParams;
using backend::GluActivation;
using backend::RopeParams;
using backend::Tensor;

void get_rows(const Tensor& table, const Tensor& ids, Tensor& out);
void matmul(const Tensor& x, const Tensor& w, Tensor& y);
void add_bias(Tensor& y, const Tensor& bias);
void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y);
void rope(Tensor& x, const Tensor& positions, const RopeParams& p);
void add(const Tensor& a, const Tensor& b, Tensor& y);
void scale(Tensor& x, float s);
void glu(const Tensor& gate, const Tensor& up, GluActivation act, Tensor& y);
void softcap(Tensor& x, float cap);
// Writes K/V with KvCache::write, then attends position by position reading
// the cache through the block tables of meta (one softmax over all visible
// keys, in double).
void attention(const Tensor& q, const Tensor& k, const Tensor& v, kv::KvCache& cache, const kv::BatchMetadata& meta,
               const AttentionParams& p, Tensor& out);

// The scalar activations (shared with the fast kernels' tails and tests).
double gelu_tanh(double x);
double silu(double x);
// Angle of rotary pair i at position pos (see RopeParams).
double rope_theta(const RopeParams& p, int64_t pos, int i);

}  // namespace kiln::cpu::ref
