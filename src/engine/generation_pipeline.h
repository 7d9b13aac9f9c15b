#pragma once
// One answer's way from logits to text: what `kiln run` (Session) and the
// server's Scheduler both run for every generated token, so that sampling,
// stop strings, thinking and grammars behave the same everywhere.
//
// feed(logits) does, in order:
//   - the grammar mask (tokens the grammar does not allow get -inf),
//   - the sampler (the request's options; the prompt tokens were accepted
//     into its penalty history at construction, as Ollama's runner does),
//   - logprobs of the raw logits when asked,
//   - end-of-generation tokens end the answer (reason Stop),
//   - the token's text through a StreamDecoder (whole UTF-8 characters), the
//     stop strings (a completed one ends the answer, reason Stop) and the
//     thinking splitter,
//   - num_predict and the caller's context limit (reason Length).
// When an answer ends, the text still held (an incomplete stop-string
// prefix, the splitter's tail) is released in the same Step.
//
// The pipeline knows nothing of the KV cache: the caller runs the model and
// says whether the sequence has room for another token.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/grammar_matcher.h"
#include "engine/options.h"
#include "engine/sampling.h"
#include "engine/sampling_logprobs.h"
#include "engine/session.h"
#include "engine/stop.h"
#include "engine/thinking.h"
#include "tokenizer/tokenizer.h"

namespace kiln::engine {

class Grammar;
class TokenMasker;

// One generated token's log-probabilities, with its text.
struct TokenLogprobText {
  int32_t token = 0;
  std::string text;  // the token's piece (may be part of a UTF-8 character)
  float logprob = 0.f;
  std::vector<std::pair<std::string, float>> top;  // best first
};

struct PipelineSetup {
  Options options;  // sampling, num_predict, stop strings
  // Constrained output: the grammar and a masker built for it (owned by the
  // caller, reused across answers: its cache warms up). Both or neither.
  std::shared_ptr<const Grammar> grammar;
  TokenMasker* masker = nullptr;
  // Thinking split; the pipeline decides from the prompt's tail whether the
  // block starts open. nullopt: no split.
  std::optional<ThinkingTags> thinking;
  int top_logprobs = -1;  // -1: none; 0..kMaxTopLogprobs: chosen + that many
  SamplingWorkspace* workspace = nullptr;  // shared scratch for one thread; null: own
};

class GenerationPipeline {
 public:
  // Throws kiln::Error for sampling options out of range or top_logprobs
  // beyond kMaxTopLogprobs.
  GenerationPipeline(const tok::Tokenizer& tokenizer, int32_t n_vocab, PipelineSetup setup,
                     std::span<const int32_t> prompt);
  ~GenerationPipeline();
  GenerationPipeline(GenerationPipeline&&) noexcept;
  GenerationPipeline& operator=(GenerationPipeline&&) noexcept;

  struct Step {
    int32_t token = -1;    // the sampled token (an end token too)
    bool ended = false;    // the answer is complete; do not feed the token back
    DoneReason reason = DoneReason::Stop;
    std::string thinking;  // thinking text released by this step
    std::string content;   // answer text released by this step (after `thinking`)
  };

  // Samples the next token from one row of n_vocab logits. room_for_more:
  // whether the sequence can take this token and produce another one (false
  // at the context limit: the answer ends with Length after this token).
  // The returned reference is valid until the next call.
  const Step& feed(std::span<const float> logits, bool room_for_more);
  // Ends the answer from outside (cancellation): releases what is held.
  const Step& finish(DoneReason reason);

  bool ended() const { return ended_; }
  // Generated tokens so far (end-of-generation token excluded).
  const std::vector<int32_t>& tokens() const { return tokens_; }
  // Logprobs of the tokens generated since the last call (when asked).
  std::vector<TokenLogprobText> take_logprobs() { return std::exchange(logprobs_, {}); }
  const Sampler& sampler() const { return sampler_; }

 private:
  std::span<const float> constrain(std::span<const float> row);
  void emit(std::string_view text);
  void end(DoneReason reason);
  void record_logprobs(std::span<const float> logits, int32_t token);

  const tok::Tokenizer* tk_;
  Options options_;
  Sampler sampler_;
  tok::StreamDecoder decoder_;
  StopMatcher stops_;
  std::optional<ThinkingSplitter> splitter_;
  std::shared_ptr<const Grammar> grammar_;
  TokenMasker* masker_ = nullptr;
  std::optional<GrammarMatcher> matcher_;
  std::vector<uint64_t> mask_;
  std::vector<float> masked_logits_;
  int top_logprobs_ = -1;
  Logprobs scratch_logprobs_;
  std::vector<TokenLogprobText> logprobs_;
  std::vector<int32_t> tokens_;
  bool ended_ = false;
  Step step_;
};

}  // namespace kiln::engine
