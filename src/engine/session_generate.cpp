// Session: one answer. Prefill what the cached sequence lacks, then run the
// GenerationPipeline (sampling, stop strings, thinking) token by token,
// streaming through the sink.
#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "engine/generation_pipeline.h"
#include "engine/grammar_mask.h"
#include "engine/sampling.h"
#include "engine/session.h"
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

  PipelineSetup setup;
  setup.options = options_;
  if (grammar_) {
    setup.grammar = grammar_;
    setup.masker = masker_.get();
  }
  if (thinking_tags_ && think_ != false) setup.thinking = thinking_tags_;
  setup.workspace = workspace_.get();
  GenerationPipeline pipeline(tk, int32_t(engine_->n_vocab()), std::move(setup), prompt);
  auto deliver = [&](const GenerationPipeline::Step& step) {
    if (!step.thinking.empty()) {
      r.thinking.append(step.thinking);
      sink(step.thinking, true);
    }
    if (!step.content.empty()) {
      r.content.append(step.content);
      sink(step.content, false);
    }
  };

  const int64_t t_eval = now_ns();
  const kv::SeqId seq = *seq_;
  for (;;) {
    if (cancel && cancel->load()) {
      deliver(pipeline.finish(DoneReason::Cancelled));
      r.reason = DoneReason::Cancelled;
      break;
    }
    const GenerationPipeline::Step& step = pipeline.feed(logits, engine_->cache().length(seq) < loaded_.context);
    deliver(step);
    if (step.ended) {
      r.reason = step.reason;
      break;
    }
    logits = engine_->decode(seq, step.token);
  }
  r.tokens = pipeline.tokens();
  r.timings.eval_count = int64_t(r.tokens.size());
  r.timings.eval_ns = now_ns() - t_eval;
  return r;
}

}  // namespace kiln::engine
