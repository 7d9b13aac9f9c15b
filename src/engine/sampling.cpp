#include "engine/sampling.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "engine/options.h"

namespace kiln::engine {
namespace {

constexpr float kInf = INFINITY;

void check_params(const SamplingParams& p) {
  auto require = [](bool ok, const char* what) {
    if (!ok) throw Error(std::string("sampling: ") + what);
  };
  require(std::isfinite(p.temperature) && p.temperature >= 0, "temperature must be a finite number >= 0");
  require(p.top_k >= 0, "top_k must be >= 0");
  require(p.top_p >= 0 && p.top_p <= 1, "top_p must be between 0 and 1");
  require(p.min_p >= 0 && p.min_p <= 1, "min_p must be between 0 and 1");
  require(p.typical_p >= 0 && p.typical_p <= 1, "typical_p must be between 0 and 1");
  require(p.repeat_last_n >= 0 && p.repeat_last_n <= kMaxNumCtx,
          "repeat_last_n must be resolved to a token count between 0 and the largest context");
  require(std::isfinite(p.repeat_penalty) && p.repeat_penalty > 0, "repeat_penalty must be a finite number > 0");
  require(std::isfinite(p.presence_penalty), "presence_penalty must be finite");
  require(std::isfinite(p.frequency_penalty), "frequency_penalty must be finite");
}

uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

SamplingParams sampling_params(const Options& opts) {
  SamplingParams p;
  p.temperature = opts.temperature;
  p.top_k = opts.top_k;
  p.top_p = opts.top_p;
  p.min_p = opts.min_p;
  p.typical_p = opts.typical_p;
  p.repeat_last_n = opts.repeat_last_n < 0 ? opts.num_ctx : opts.repeat_last_n;
  p.repeat_penalty = opts.repeat_penalty;
  p.presence_penalty = opts.presence_penalty;
  p.frequency_penalty = opts.frequency_penalty;
  p.seed = opts.seed;
  return p;
}

SamplingWorkspace::SamplingWorkspace(int32_t vocab_size) {
  if (vocab_size < 1) throw Error("sampling: vocabulary size must be >= 1");
  buffer_.resize(static_cast<size_t>(vocab_size));
}

Sampler::Sampler(int32_t vocab_size, const SamplingParams& params, SamplingWorkspace* shared)
    : vocab_size_(vocab_size), params_(params) {
  if (vocab_size < 1) throw Error("sampling: vocabulary size must be >= 1");
  check_params(params_);
  if (shared && shared->vocab_size() != vocab_size)
    throw Error("sampling: workspace is for " + std::to_string(shared->vocab_size()) + " tokens, model has " +
                std::to_string(vocab_size));
  if (!shared) own_ws_ = std::make_unique<SamplingWorkspace>(vocab_size);
  ws_ = shared ? shared : own_ws_.get();
  seed_ = params_.seed == -1 ? random_seed() : static_cast<uint64_t>(params_.seed);
  rng_.seed(seed_);
  if (penalties_active()) {
    ring_.resize(static_cast<size_t>(params_.repeat_last_n));
    counts_.assign(static_cast<size_t>(vocab_size), 0);
  }
}

Sampler::~Sampler() = default;
Sampler::Sampler(Sampler&&) noexcept = default;
Sampler& Sampler::operator=(Sampler&&) noexcept = default;

bool Sampler::penalties_active() const {
  return params_.repeat_last_n > 0 &&
         !(params_.repeat_penalty == 1.f && params_.frequency_penalty == 0.f && params_.presence_penalty == 0.f);
}

// llama.cpp's penalties: the repeat penalty pushes a logit towards -inf
// whatever its sign (dividing a negative logit would raise it), then the
// OpenAI-style frequency and presence terms subtract.
float Sampler::penalize(float logit, int32_t count) const {
  logit = logit <= 0 ? logit * params_.repeat_penalty : logit / params_.repeat_penalty;
  return logit - static_cast<float>(count) * params_.frequency_penalty - params_.presence_penalty;
}

void Sampler::accept(int32_t token) {
  if (token < 0 || token >= vocab_size_)
    throw Error("sampling: token " + std::to_string(token) + " is outside the vocabulary of " +
                std::to_string(vocab_size_));
  if (ring_.empty()) return;
  if (ring_size_ == ring_.size()) {  // full: the oldest token leaves the window
    const int32_t old = ring_[ring_head_];
    if (--counts_[old] == 0) --distinct_;
  } else {
    ++ring_size_;
  }
  ring_[ring_head_] = token;
  ring_head_ = (ring_head_ + 1) % ring_.size();
  if (counts_[token]++ == 0) ++distinct_;
}

void Sampler::reset() {
  for (size_t i = 0; i < ring_size_; ++i) counts_[ring_[i]] = 0;
  ring_head_ = ring_size_ = distinct_ = 0;
  rng_.seed(seed_);
}

int32_t Sampler::sample(std::span<const float> logits) {
  const int32_t token = choose(logits);
  accept(token);
  return token;
}

int32_t Sampler::choose_greedy(std::span<const float> logits) {
  CandidateList c = gather(logits, ws_->buffer_.data(), 1);
  if (c.size == 0) throw Error("sampling: no token has a finite logit");
  c.data[0].p = 1.f;
  ws_->size_ = 1;
  return c.data[0].id;
}

// Penalties then the best k (all tokens when k >= the vocabulary), into `out`. With top_k on, one
// pass over the raw logits keeps the best k + (tokens in the history): at
// most that many of them are history tokens, so re-scoring those and adding
// the penalized history tokens that were left out yields the same top k as
// penalizing the whole vocabulary first.
CandidateList Sampler::gather(std::span<const float> logits, Candidate* out, size_t k) {
  const size_t n_vocab = logits.size();
  const size_t extra = distinct_;  // 0 when the penalties are off
  k = std::min(k, n_vocab);
  if (k < n_vocab && k + extra <= n_vocab / 4) {
    size_t n = select_top(logits, k + extra, out);
    if (extra == 0) return {out, n, true};
    // counts_ < 0 marks a history token already in the list.
    for (size_t i = 0; i < n; ++i) {
      const int32_t id = out[i].id;
      if (counts_[id] > 0) {
        out[i].logit = penalize(out[i].logit, counts_[id]);
        counts_[id] = -counts_[id];
      }
    }
    for (size_t i = 0; i < ring_size_; ++i) {
      const int32_t id = ring_[i];
      if (counts_[id] <= 0) continue;
      const float v = penalize(logits[id], counts_[id]);
      counts_[id] = -counts_[id];
      if (v > -kInf) out[n++] = Candidate{id, v, 0.f, 0.f};
    }
    for (size_t i = 0; i < ring_size_; ++i) counts_[ring_[i]] = std::abs(counts_[ring_[i]]);
    const size_t kept = std::min(k, n);
    std::partial_sort(out, out + kept, out + n, before);
    return {out, kept, true};
  }
  size_t n = 0;
  for (size_t i = 0; i < n_vocab; ++i) {
    float v = logits[i];
    if (extra && counts_[i] != 0) v = penalize(v, counts_[i]);
    if (v > -kInf) out[n++] = Candidate{static_cast<int32_t>(i), v, 0.f, 0.f};
  }
  CandidateList c{out, n, false};
  if (k < n) top_k(c, static_cast<int>(k));  // a partial sort; k >= n cuts nothing and sorts nothing
  return c;
}

int32_t Sampler::choose(std::span<const float> logits) {
  if (logits.size() != static_cast<size_t>(vocab_size_))
    throw Error("sampling: got " + std::to_string(logits.size()) + " logits for a vocabulary of " +
                std::to_string(vocab_size_));
  // Greedy without typical_p: top_k, top_p and min_p all keep the best
  // token, so the chain reduces to an argmax of the penalized logits.
  if (params_.temperature <= 0.f && params_.typical_p >= 1.f) return choose_greedy(logits);

  const size_t k = params_.top_k > 0 ? static_cast<size_t>(params_.top_k) : logits.size();
  CandidateList c = gather(logits, ws_->buffer_.data(), k);
  if (c.size == 0) throw Error("sampling: no token has a finite logit");
  typical_p(c, params_.typical_p);
  top_p(c, params_.top_p);
  min_p(c, params_.min_p);
  temperature(c, params_.temperature);
  const size_t chosen = draw(c, uniform01(rng_));
  ws_->size_ = c.size;
  return c.data[chosen].id;
}

}  // namespace kiln::engine
