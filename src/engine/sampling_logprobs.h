#pragma once
// Log-probabilities for "logprobs" / "top_logprobs" in responses. As Ollama
// (runner/common/logprob.go) and OpenAI document them, they describe the
// model's raw distribution: log_softmax of the logits before penalties,
// filters and temperature, so they do not change with the sampling options.
#include <array>
#include <cstdint>
#include <span>

namespace kiln::engine {

// OpenAI's and Ollama's limit on top_logprobs.
inline constexpr int kMaxTopLogprobs = 20;

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.f;
};

struct Logprobs {
  TokenLogprob chosen;
  std::array<TokenLogprob, kMaxTopLogprobs> top_storage{};
  int n_top = 0;
  // The most likely tokens, best first (ties: lower id first).
  std::span<const TokenLogprob> top() const { return {top_storage.data(), static_cast<size_t>(n_top)}; }
};

// Throws kiln::Error unless 0 <= n <= kMaxTopLogprobs.
void check_top_logprobs(int n);

// log_softmax(logits)[chosen] and the top_n best tokens. Allocates nothing.
// Throws kiln::Error for an empty row, a chosen id out of range or top_n out
// of range. The normalizer is accumulated in double, as Ollama does.
void compute_logprobs(std::span<const float> logits, int32_t chosen, int top_n, Logprobs& out);

}  // namespace kiln::engine
