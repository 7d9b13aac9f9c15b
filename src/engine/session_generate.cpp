// Session: one answer. Prefill what the cached sequence lacks, then sample,
// decode, cut stop strings and split thinking, streaming through the sink.
#include <algorithm>
#include <chrono>
#include <limits>

#include "core/error.h"
#include "engine/grammar_mask.h"
#include "engine/grammar_matcher.h"
#include "engine/sampling.h"
#include "engine/session.h"
#include "engine/stop.h"
#include "kv/kv_cache.h"
#include "tokenizer/tokenizer.h"

namespace kiln::engine {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::span<const float> Session::prefill_reusing_cache(std::span<const int32_t> prompt,
                                                      const std::atomic<bool>* cancel, int64_t& evaluated) {
  kv::KvCache& cache = engine_->cache();
  size_t keep = 0;
  if (seq_) {
    // Reuse the longest common prefix of what the sequence holds (computed
    // K/V only) and the new prompt. At least one prompt token must run
    // through the model to give the next token's logits.
    const std::span<const kv::Token> cached = cache.tokens(*seq_).first(size_t(cache.computed(*seq_)));
    const size_t n = std::min(cached.size(), prompt.size());
    while (keep < n && cached[keep] == prompt[keep]) ++keep;
    keep = std::min(keep, prompt.size() - 1);
    if (keep < size_t(cache.length(*seq_))) {
      if (cache.can_truncate(*seq_, int64_t(keep))) {
        cache.truncate(*seq_, int64_t(keep));
      } else {
        // A sliding-window layer no longer holds what the shorter prefix
        // needs: start over.
        engine_->free_sequence(*seq_);
        seq_.reset();
        keep = 0;
      }
    }
  }
  if (!seq_) seq_ = engine_->new_sequence();

  // Chunks of one batch, so that Ctrl-C also stops a long prefill.
  std::span<const float> logits;
  const size_t batch = size_t(loaded_.batch);
  for (size_t done = keep; done < prompt.size();) {
    if (cancel && cancel->load()) return {};
    const size_t n = std::min(prompt.size() - done, batch);
    logits = engine_->prefill(*seq_, prompt.subspan(done, n));
    done += n;
    evaluated += int64_t(n);
  }
  return logits;
}

Reply Session::generate(std::span<const int32_t> prompt, TextSink sink, const std::atomic<bool>* cancel) {
  const int64_t t0 = now_ns(), loaded_before = pending_load_ns_;
  load();
  if (int64_t(prompt.size()) >= loaded_.context)
    throw kiln::Error("the prompt is " + std::to_string(prompt.size()) + " tokens, more than the context of " +
                      std::to_string(loaded_.context) + " holds (num_ctx)");
  Reply reply = run(prompt, sink, cancel);
  reply.timings.total_ns = now_ns() - t0 + loaded_before;
  return reply;
}

Reply Session::run(std::span<const int32_t> prompt, TextSink sink, const std::atomic<bool>* cancel) {
  if (prompt.empty()) throw kiln::Error("cannot generate from an empty prompt");
  Reply r;
  r.timings.load_ns = pending_load_ns_;
  pending_load_ns_ = 0;
  const tok::Tokenizer& tk = engine_->tokenizer();

  const int64_t t_prompt = now_ns();
  std::span<const float> logits = prefill_reusing_cache(prompt, cancel, r.timings.prompt_eval_count);
  r.timings.prompt_eval_ns = now_ns() - t_prompt;
  if (logits.empty()) {
    r.reason = DoneReason::Cancelled;
    return r;
  }

  Sampler sampler(int32_t(engine_->n_vocab()), sampling_params(options_), workspace_.get());
  for (int32_t t : prompt) sampler.accept(t);  // Ollama's runner penalizes prompt tokens too
  tok::StreamDecoder decoder(tk, /*skip_special=*/true);
  StopMatcher stops(options_.stop);
  std::optional<ThinkingSplitter> splitter;
  if (thinking_tags_ && think_ != false) {
    // Whether the generation prompt opened the block: its last few tokens tell.
    const std::string tail = tk.decode(prompt.last(std::min<size_t>(prompt.size(), 16)));
    splitter.emplace(*thinking_tags_, prompt_opens_thinking(tail, *thinking_tags_));
  }

  auto deliver = [&](std::string_view text, bool thinking) {
    if (text.empty()) return;
    (thinking ? r.thinking : r.content).append(text);
    sink(text, thinking);
  };
  auto emit = [&](std::string_view text) {
    if (text.empty()) return;
    if (!splitter) return deliver(text, false);
    const ThinkingSplitter::Output out = splitter->feed(text);
    deliver(out.thinking, true);
    deliver(out.content, false);
  };

  // Structured output: tokens the grammar does not allow get -inf.
  std::optional<GrammarMatcher> matcher;
  if (grammar_) {
    matcher.emplace(grammar_);
    masked_logits_.resize(size_t(engine_->n_vocab()));
  }
  auto constrain = [&](std::span<const float> row) -> std::span<const float> {
    if (!matcher) return row;
    masker_->fill_mask(*matcher, mask_);
    const size_t n = std::min(row.size(), mask_.size() * 64);
    std::fill(masked_logits_.begin(), masked_logits_.end(), -std::numeric_limits<float>::infinity());
    for (size_t i = 0; i < n; ++i)
      if ((mask_[i >> 6] >> (i & 63)) & 1u) masked_logits_[i] = row[i];
    return masked_logits_;
  };

  const int64_t t_eval = now_ns();
  const kv::SeqId seq = *seq_;
  const int64_t limit = options_.num_predict;  // > 0: at most that many; -1, -2: until the context is full
  for (;;) {
    if (cancel && cancel->load()) {
      r.reason = DoneReason::Cancelled;
      break;
    }
    const int32_t token = sampler.sample(constrain(logits));
    if (tk.is_eog(token)) {
      r.reason = DoneReason::Stop;
      break;
    }
    if (matcher) matcher->accept(tk.piece(token));
    r.tokens.push_back(token);
    const std::string piece = decoder.push(token);
    if (!piece.empty()) {
      const StopMatcher::Result res = stops.feed(piece);
      emit(res.text);
      if (res.stopped) {
        r.reason = DoneReason::Stop;
        break;
      }
    }
    if ((limit > 0 && int64_t(r.tokens.size()) >= limit) || engine_->cache().length(seq) >= loaded_.context) {
      r.reason = DoneReason::Length;
      break;
    }
    logits = engine_->decode(seq, token);
  }
  if (!stops.stopped()) {
    const std::string rest = decoder.flush();
    if (!rest.empty()) emit(stops.feed(rest).text);
    if (!stops.stopped()) emit(stops.flush());
  }
  if (splitter) {
    const ThinkingSplitter::Output out = splitter->finish();
    deliver(out.thinking, true);
    deliver(out.content, false);
  }
  r.timings.eval_count = int64_t(r.tokens.size());
  r.timings.eval_ns = now_ns() - t_eval;
  return r;
}

}  // namespace kiln::engine
