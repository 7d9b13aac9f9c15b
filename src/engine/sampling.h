#pragma once
// Choosing the next token from a row of logits, as Ollama's llama.cpp runner
// does: repetition penalties over the last repeat_last_n tokens, then top_k,
// typical_p, top_p, min_p, temperature, and a draw from a seeded PRNG
// (engine/sampling_filters.h has each step's exact semantics).
//
// - temperature 0 is greedy: the highest penalized logit, ties to the lowest
//   token id (the filters before it never remove that token unless typical_p
//   is on, in which case the chain runs and greedy picks within its set).
// - The same seed, parameters, history and logits give the same tokens on
//   the same build; seed -1 draws a random seed (seed() tells which).
// - Ollama's runner feeds the prompt tokens to the penalty history before
//   generating (llamarunner: sc.Accept for every prompt token); call
//   accept() for them to do the same.
// - Nothing allocates after construction: a Sampler holds the per-sequence
//   state (history, PRNG); a SamplingWorkspace holds the vocabulary-sized
//   scratch and may be shared by every sequence sampled on one thread.
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "engine/sampling_filters.h"

namespace kiln::engine {

struct Options;

struct SamplingParams {
  float temperature = 0.8f;
  int top_k = 40;
  float top_p = 0.9f;
  float min_p = 0.0f;
  float typical_p = 1.0f;
  int repeat_last_n = 64;  // tokens of history penalized; 0: none (resolved: never -1)
  float repeat_penalty = 1.1f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int64_t seed = -1;  // -1: random
};

// The sampling part of the options, with repeat_last_n -1 resolved to num_ctx.
SamplingParams sampling_params(const Options& opts);

class SamplingWorkspace {
 public:
  explicit SamplingWorkspace(int32_t vocab_size);
  int32_t vocab_size() const { return static_cast<int32_t>(buffer_.size()); }
  // What the chain left in the last choose() made with this workspace:
  // candidates with their final probabilities (summing to 1), in chain order.
  std::span<const Candidate> last_candidates() const { return {buffer_.data(), size_}; }

 private:
  friend class Sampler;
  std::vector<Candidate> buffer_;
  size_t size_ = 0;
};

class Sampler {
 public:
  // Throws kiln::Error for a vocabulary size < 1 or parameters out of range.
  // Without a shared workspace, the sampler allocates its own.
  Sampler(int32_t vocab_size, const SamplingParams& params, SamplingWorkspace* shared = nullptr);
  ~Sampler();
  Sampler(Sampler&&) noexcept;
  Sampler& operator=(Sampler&&) noexcept;

  // choose() then accept(): the usual generation step.
  int32_t sample(std::span<const float> logits);
  // The next token from `logits` (vocab_size values, left unchanged), given
  // the history; does not add it to the history. Throws kiln::Error when the
  // row has the wrong size or no token has a finite logit.
  int32_t choose(std::span<const float> logits);
  // Adds a token to the penalty history (generated or prompt tokens).
  void accept(int32_t token);
  // Forgets the history and restarts the PRNG from the same seed.
  void reset();

  const SamplingParams& params() const { return params_; }
  uint64_t seed() const { return seed_; }  // the seed in use (drawn when params.seed == -1)
  int32_t vocab_size() const { return vocab_size_; }
  SamplingWorkspace& workspace() { return *ws_; }

 private:
  bool penalties_active() const;
  float penalize(float logit, int32_t count) const;
  CandidateList gather(std::span<const float> logits, Candidate* out, size_t k);
  int32_t choose_greedy(std::span<const float> logits);

  int32_t vocab_size_ = 0;
  SamplingParams params_;
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::unique_ptr<SamplingWorkspace> own_ws_;
  SamplingWorkspace* ws_ = nullptr;
  // Penalty history: a ring of the last repeat_last_n tokens and each token's
  // count in it (vocabulary-sized, so lookups are O(1)); empty when the
  // penalties are neutral.
  std::vector<int32_t> ring_;
  size_t ring_head_ = 0, ring_size_ = 0;
  std::vector<int32_t> counts_;
  size_t distinct_ = 0;  // tokens with a nonzero count
};

}  // namespace kiln::engine
