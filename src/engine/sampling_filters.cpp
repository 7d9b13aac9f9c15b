#include "engine/sampling_filters.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "engine/sampling_simd.h"

namespace kiln::engine {
namespace {

constexpr float kInf = INFINITY;

float max_logit(const CandidateList& c) {
  if (c.sorted) return c.data[0].logit;
  float m = -kInf;
  for (size_t i = 0; i < c.size; ++i) m = std::max(m, c.data[i].logit);
  return m;
}

// Puts the best `end` candidates, sorted, in [0, end), given that [0, begin)
// already holds the best `begin` sorted ones. Lets top_p sort only as much of
// a vocabulary-sized list as its cumulative sum needs.
void extend_sorted_prefix(CandidateList& c, size_t begin, size_t end) {
  Candidate* first = c.data + begin;
  Candidate* nth = c.data + end;
  Candidate* last = c.data + c.size;
  if (end < c.size) std::nth_element(first, nth, last, before);
  std::sort(first, nth, before);
}

// How many of the best candidates top_p must sort to reach mass p, from one
// pass: probability mass in 1024 buckets of logit distance from the best
// (1/32 nat each; the last bucket holds everything further). Everything in
// the buckets up to the one where the mass reaches p is enough, usually a
// tiny part of a vocabulary-sized list.
size_t prefix_for_mass(const CandidateList& c, float p) {
  constexpr int kBuckets = 1024;
  constexpr float kPerNat = 32.f;
  float mass[kBuckets] = {};
  uint32_t count[kBuckets] = {};
  const float m = max_logit(c);
  for (size_t i = 0; i < c.size; ++i) {
    const float d = (m - c.data[i].logit) * kPerNat;
    const int b = d < kBuckets - 1 ? static_cast<int>(d) : kBuckets - 1;
    mass[b] += c.data[i].p;
    ++count[b];
  }
  double cum = 0;
  size_t needed = 0;
  for (int b = 0; b < kBuckets; ++b) {
    cum += mass[b];
    needed += count[b];
    if (cum >= p) break;
  }
  return needed;
}

}  // namespace

size_t select_top(std::span<const float> logits, size_t k, Candidate* out) {
  if (k == 0 || logits.empty()) return 0;
  const size_t n_vocab = logits.size();
  const float* x = logits.data();
  // Pass 1: the maximum of each block of `block` logits. The k blocks with the highest
  // maxima hold k logits >= the k-th highest block maximum, so no logit below
  // it can be among the best k: pass 2 skips every block under it and offers
  // only logits at or above it to the heap. That keeps heap updates to about
  // k instead of the k * ln(n/k) of a plain streaming heap.
  constexpr size_t kLanes = 16, kMaxBlocks = 4096;
  size_t block = 64;
  while ((n_vocab + block - 1) / block > kMaxBlocks) block *= 2;
  const size_t n_blocks = (n_vocab + block - 1) / block;
  float block_max[kMaxBlocks], order[kMaxBlocks];
  for (size_t b = 0; b < n_blocks; ++b) {
    const size_t begin = b * block, end = std::min(n_vocab, begin + block);
    float m = -kInf;
    if (end - begin == block) {
      simd::F16 lane = simd::splat(-kInf);
      for (size_t j = begin; j < end; j += kLanes) lane = simd::max(lane, simd::load(x + j));
      m = simd::hmax(lane);
    } else {
      for (size_t j = begin; j < end; ++j) m = x[j] > m ? x[j] : m;
    }
    block_max[b] = m;
    order[b] = m;
  }
  float floor = -kInf;  // no logit below this can be in the best k
  if (k <= n_blocks) {
    std::nth_element(order, order + (k - 1), order + n_blocks, std::greater<float>());
    floor = order[k - 1];
  }
  size_t n = 0;
  float threshold = -kInf;  // once the heap is full: its worst logit
  for (size_t b = 0; b < n_blocks; ++b) {
    if (!(block_max[b] >= floor) || !(block_max[b] > threshold)) continue;
    const size_t begin = b * block, end = std::min(n_vocab, begin + block);
    for (size_t i = begin; i < end; ++i) {
      if (!(x[i] >= floor) || !(x[i] > threshold)) continue;  // NaN and -inf never pass
      const Candidate cand{static_cast<int32_t>(i), x[i], 0.f, 0.f};
      if (n < k) {
        out[n++] = cand;
        std::push_heap(out, out + n, before);  // front: the worst kept so far
      } else {
        std::pop_heap(out, out + k, before);
        out[k - 1] = cand;
        std::push_heap(out, out + k, before);
      }
      if (n == k) threshold = out[0].logit;
    }
  }
  std::sort_heap(out, out + n, before);  // best first
  return n;
}

void sort_candidates(CandidateList& c) {
  std::sort(c.data, c.data + c.size, before);
  c.sorted = true;
}

void softmax(CandidateList& c) {
  if (c.size == 0) return;
  const float m = max_logit(c);
  if (m == kInf) {  // an infinite logit outweighs every finite one
    float count = 0;
    for (size_t i = 0; i < c.size; ++i) count += c.data[i].logit == kInf ? 1.f : 0.f;
    for (size_t i = 0; i < c.size; ++i) c.data[i].p = c.data[i].logit == kInf ? 1.f / count : 0.f;
    return;
  }
  float sum = 0.f;
  for (size_t i = 0; i < c.size; ++i) {
    const float p = std::exp(c.data[i].logit - m);
    c.data[i].p = p;
    sum += p;
  }
  for (size_t i = 0; i < c.size; ++i) c.data[i].p /= sum;
}

void top_k(CandidateList& c, int k) {
  if (k <= 0) return;
  const size_t kk = std::min(static_cast<size_t>(k), c.size);
  if (!c.sorted) {
    std::partial_sort(c.data, c.data + kk, c.data + c.size, before);
    c.sorted = true;
  }
  c.size = kk;
}

void typical_p(CandidateList& c, float p) {
  if (p >= 1.f || c.size == 0) return;
  if (!c.sorted) sort_candidates(c);
  softmax(c);
  // Locally typical sampling keeps the tokens whose surprisal -log p is
  // closest to the distribution's entropy. A probability that underflowed to
  // 0 adds nothing to the entropy (the limit of p log p) and sorts last;
  // llama.cpp would turn it into NaN.
  float entropy = 0.f;
  for (size_t i = 0; i < c.size; ++i) {
    const float pi = c.data[i].p;
    if (pi > 0.f) entropy += -pi * std::log(pi);
  }
  for (size_t i = 0; i < c.size; ++i) {
    const float pi = c.data[i].p;
    c.data[i].score = pi > 0.f ? std::fabs(-std::log(pi) - entropy) : kInf;
  }
  std::sort(c.data, c.data + c.size, [](const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && before(a, b));
  });
  float cum = 0.f;
  size_t keep = c.size;
  for (size_t i = 0; i < c.size; ++i) {
    cum += c.data[i].p;
    if (cum > p) {
      keep = i + 1;
      break;
    }
  }
  c.size = keep;
  c.sorted = false;
}

void top_p(CandidateList& c, float p) {
  if (p >= 1.f || c.size == 0) return;
  softmax(c);
  // Sort only the prefix the cumulative sum reaches (estimated from a
  // histogram for long lists), doubling it in the rare case float rounding
  // leaves the estimate short.
  size_t sorted_end = c.size;
  if (!c.sorted) {
    sorted_end = c.size > 1024 ? std::max<size_t>(1, prefix_for_mass(c, p)) : c.size;
    extend_sorted_prefix(c, 0, sorted_end);
  }
  float cum = 0.f;
  size_t keep = c.size;
  for (size_t i = 0; i < c.size; ++i) {
    if (i == sorted_end) {
      const size_t next = std::min(c.size, sorted_end * 2);
      extend_sorted_prefix(c, sorted_end, next);
      sorted_end = next;
    }
    cum += c.data[i].p;
    if (cum >= p) {
      keep = i + 1;
      break;
    }
  }
  c.size = keep;
  c.sorted = true;
}

void min_p(CandidateList& c, float p) {
  if (p <= 0.f || c.size == 0) return;
  // p_i >= p * p_max  <=>  logit_i >= logit_max + log(p)
  const float min_logit = max_logit(c) + std::log(p);
  if (c.sorted) {
    size_t i = 1;  // the best candidate always stays
    while (i < c.size && c.data[i].logit >= min_logit) ++i;
    c.size = i;
    return;
  }
  size_t kept = 0;
  for (size_t i = 0; i < c.size; ++i)
    if (c.data[i].logit >= min_logit) c.data[kept++] = c.data[i];
  c.size = kept;
}

void temperature(CandidateList& c, float temp) {
  if (c.size == 0) return;
  if (temp <= 0.f) {
    size_t best = 0;
    for (size_t i = 1; i < c.size; ++i)
      if (before(c.data[i], c.data[best])) best = i;
    c.data[0] = c.data[best];
    c.data[0].p = 1.f;
    c.size = 1;
    c.sorted = true;
    return;
  }
  for (size_t i = 0; i < c.size; ++i) c.data[i].logit /= temp;
}

size_t draw(CandidateList& c, double u) {
  if (c.size == 1) {
    c.data[0].p = 1.f;
    return 0;
  }
  const float m = max_logit(c);
  double sum = 0.0;
  for (size_t i = 0; i < c.size; ++i) {
    const float logit = c.data[i].logit;
    const float p = m == kInf ? (logit == kInf ? 1.f : 0.f) : std::exp(logit - m);
    c.data[i].p = p;
    sum += p;
  }
  // The first candidate whose running sum passes u * sum; ">" (llama.cpp has
  // ">=") so that a zero-probability candidate is never chosen when u == 0.
  const double target = u * sum;
  double run = 0.0;
  size_t chosen = c.size;
  for (size_t i = 0; i < c.size; ++i) {
    run += c.data[i].p;
    if (run > target) {
      chosen = i;
      break;
    }
  }
  if (chosen == c.size)  // rounding left u * sum out of reach: the last possible one
    for (size_t i = c.size; i-- > 0;)
      if (c.data[i].p > 0.f) {
        chosen = i;
        break;
      }
  for (size_t i = 0; i < c.size; ++i) c.data[i].p = static_cast<float>(c.data[i].p / sum);
  return chosen;
}

}  // namespace kiln::engine
