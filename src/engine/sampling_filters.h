#pragma once
// The steps of the sampler chain, each over a list of candidate tokens, with
// llama.cpp's semantics (src/llama-sampling.cpp, the chain common_sampler
// builds and Ollama's llama runner uses): penalties -> top_k -> typical_p ->
// top_p -> min_p -> temperature -> draw. Every step works in place on memory
// the caller owns, so a sampling step allocates nothing.
//
// One deliberate difference: wherever llama.cpp leaves ties in an unspecified
// order (std::partial_sort is not stable), kiln orders candidates by logit,
// then by token id, so a choice never depends on the standard library and
// greedy decoding picks the lowest id among equal logits.
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>

namespace kiln::engine {

struct Candidate {
  int32_t id = 0;
  float logit = 0.f;
  float p = 0.f;      // probability, filled by softmax()
  float score = 0.f;  // scratch (typical_p's distance from the entropy)
};

// Candidates [0, size) of a caller-owned buffer. sorted: by logit, highest
// first (ties: lower id first).
struct CandidateList {
  Candidate* data = nullptr;
  size_t size = 0;
  bool sorted = false;

  std::span<Candidate> view() const { return {data, size}; }
};

// The order "a comes before b": higher logit, then lower id.
inline bool before(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// The `k` best tokens of `logits` (NaN and -inf never qualify) into `out`
// (capacity >= k), sorted. One vectorized pass over block maxima bounds the
// k-th best logit, so only the few blocks that can contribute are scanned.
size_t select_top(std::span<const float> logits, size_t k, Candidate* out);

// Sorts the list (fully) with before().
void sort_candidates(CandidateList& c);

// p = softmax(logit) over the list, as llama.cpp computes it (float
// exponentials, float sum). A +inf logit takes all the probability.
void softmax(CandidateList& c);

void top_k(CandidateList& c, int k);            // k <= 0: no-op
void typical_p(CandidateList& c, float p);      // p >= 1: no-op; leaves the list unsorted
void top_p(CandidateList& c, float p);          // p >= 1: no-op
void min_p(CandidateList& c, float p);          // p <= 0: no-op
// temp <= 0: keeps only the best candidate (greedy); else divides logits.
void temperature(CandidateList& c, float temp);

// Draws one candidate with probability softmax(logit): returns its index in
// the list and leaves normalized probabilities in p. Zero-probability
// candidates are never drawn. `u` is uniform in [0, 1).
size_t draw(CandidateList& c, double u);

// Uniform double in [0, 1) from 53 random bits (std::uniform_real_distribution
// is not specified bit for bit across standard libraries; this is).
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace kiln::engine
