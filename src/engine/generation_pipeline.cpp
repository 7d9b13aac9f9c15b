#include "engine/generation_pipeline.h"

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "engine/grammar_mask.h"

namespace kiln::engine {

GenerationPipeline::GenerationPipeline(const tok::Tokenizer& tokenizer, int32_t n_vocab, PipelineSetup setup,
                                       std::span<const int32_t> prompt)
    : tk_(&tokenizer),
      options_(std::move(setup.options)),
      sampler_(n_vocab, sampling_params(options_), setup.workspace),
      decoder_(tokenizer, /*skip_special=*/true),
      stops_(options_.stop),
      grammar_(std::move(setup.grammar)),
      masker_(setup.masker),
      top_logprobs_(setup.top_logprobs) {
  if (top_logprobs_ >= 0) check_top_logprobs(top_logprobs_);
  if (bool(grammar_) != bool(masker_)) throw kiln::Error("a grammar needs a token masker (and only then)");
  for (int32_t t : prompt) sampler_.accept(t);  // Ollama's runner penalizes prompt tokens too
  if (setup.thinking) {
    // Whether the generation prompt opened the block: its last few tokens tell.
    const std::string tail = tokenizer.decode(prompt.last(std::min<size_t>(prompt.size(), 16)));
    splitter_.emplace(*setup.thinking, prompt_opens_thinking(tail, *setup.thinking));
  }
  if (grammar_) {
    matcher_.emplace(grammar_);
    mask_.assign(masker_->mask_words(), 0);
    masked_logits_.resize(size_t(n_vocab));
  }
  if (options_.num_predict > 0) tokens_.reserve(size_t(options_.num_predict));
}

GenerationPipeline::~GenerationPipeline() = default;
GenerationPipeline::GenerationPipeline(GenerationPipeline&&) noexcept = default;
GenerationPipeline& GenerationPipeline::operator=(GenerationPipeline&&) noexcept = default;

std::span<const float> GenerationPipeline::constrain(std::span<const float> row) {
  if (!matcher_) return row;
  masker_->fill_mask(*matcher_, mask_);
  const size_t n = std::min(row.size(), mask_.size() * 64);
  std::fill(masked_logits_.begin(), masked_logits_.end(), -std::numeric_limits<float>::infinity());
  for (size_t i = 0; i < n; ++i)
    if ((mask_[i >> 6] >> (i & 63)) & 1u) masked_logits_[i] = row[i];
  return masked_logits_;
}

void GenerationPipeline::emit(std::string_view text) {
  if (text.empty()) return;
  if (!splitter_) {
    step_.content.append(text);
    return;
  }
  const ThinkingSplitter::Output out = splitter_->feed(text);
  step_.thinking.append(out.thinking);
  step_.content.append(out.content);
}

void GenerationPipeline::end(DoneReason reason) {
  ended_ = true;
  step_.ended = true;
  step_.reason = reason;
  if (!stops_.stopped()) {
    const std::string rest = decoder_.flush();
    if (!rest.empty()) emit(stops_.feed(rest).text);
    if (!stops_.stopped()) emit(stops_.flush());
  }
  if (splitter_) {
    const ThinkingSplitter::Output out = splitter_->finish();
    step_.thinking.append(out.thinking);
    step_.content.append(out.content);
  }
}

void GenerationPipeline::record_logprobs(std::span<const float> logits, int32_t token) {
  compute_logprobs(logits, token, top_logprobs_, scratch_logprobs_);
  TokenLogprobText t;
  t.token = token;
  t.text = std::string(tk_->piece(token));
  t.logprob = scratch_logprobs_.chosen.logprob;
  for (const TokenLogprob& alt : scratch_logprobs_.top()) t.top.emplace_back(std::string(tk_->piece(alt.token)), alt.logprob);
  logprobs_.push_back(std::move(t));
}

const GenerationPipeline::Step& GenerationPipeline::feed(std::span<const float> logits, bool room_for_more) {
  step_.token = -1;
  step_.ended = false;
  step_.thinking.clear();
  step_.content.clear();
  if (ended_) throw kiln::Error("feed after the end of generation");

  const int32_t token = sampler_.sample(constrain(logits));
  step_.token = token;
  if (top_logprobs_ >= 0) record_logprobs(logits, token);
  if (tk_->is_eog(token)) {
    end(DoneReason::Stop);
    return step_;
  }
  if (matcher_) matcher_->accept(tk_->piece(token));
  tokens_.push_back(token);
  const std::string piece = decoder_.push(token);
  if (!piece.empty()) {
    const StopMatcher::Result res = stops_.feed(piece);
    emit(res.text);
    if (res.stopped) {
      end(DoneReason::Stop);
      return step_;
    }
  }
  const int64_t limit = options_.num_predict;  // > 0: at most that many; -1, -2: until the context is full
  if ((limit > 0 && int64_t(tokens_.size()) >= limit) || !room_for_more) end(DoneReason::Length);
  return step_;
}

const GenerationPipeline::Step& GenerationPipeline::finish(DoneReason reason) {
  step_.token = -1;
  step_.ended = false;
  step_.thinking.clear();
  step_.content.clear();
  if (!ended_) end(reason);
  return step_;
}

}  // namespace kiln::engine
