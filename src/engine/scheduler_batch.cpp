// One scheduler iteration's batch: a decode token for every generating
// sequence, prefill chunks of admitted prompts (oldest first), then new
// admissions while a slot, step budget and KV blocks remain; one
// Engine::step; each row of logits through the request's pipeline.
//
// Blocks are planned before the step: every item reserves what
// KvCache::blocks_needed says from its groups' available blocks (free plus
// evictable cached ones). A decode token that does not fit preempts the most
// recently admitted sequence (vLLM's recompute preemption); a prefill chunk
// that does not fit shrinks or waits.
#include <algorithm>
#include <exception>

#include "core/error.h"
#include "core/metrics.h"
#include "engine/scheduler_impl.h"
#include "kv/kv_cache.h"

namespace kiln::engine {

namespace {

bool fits(const kv::KvCache& cache, const std::vector<int64_t>& planned, kv::SeqId seq, int64_t n) {
  for (int g = 0; g < cache.num_groups(); ++g)
    if (planned[size_t(g)] + cache.blocks_needed(seq, n, g) > cache.pool(g).available()) return false;
  return true;
}

}  // namespace

bool Scheduler::Impl::reserve(const SchedRequest& r, int64_t n) {
  const kv::KvCache& cache = engine.cache();
  if (!fits(cache, planned, *r.seq, n)) return false;
  for (int g = 0; g < cache.num_groups(); ++g) planned[size_t(g)] += cache.blocks_needed(*r.seq, n, g);
  return true;
}

int64_t Scheduler::Impl::fit(const SchedRequest& r, int64_t n) {
  const kv::KvCache& cache = engine.cache();
  if (n <= 0) return 0;
  if (!fits(cache, planned, *r.seq, n)) {
    // blocks_needed grows with the token count: the largest count that fits.
    int64_t lo = 0, hi = n;
    while (hi - lo > 1) {
      const int64_t mid = lo + (hi - lo) / 2;
      (fits(cache, planned, *r.seq, mid) ? lo : hi) = mid;
    }
    n = lo;
  }
  if (n > 0) reserve(r, n);
  return n;
}

bool Scheduler::Impl::admit_next(int64_t& budget) {
  if (budget <= 0 || int(running.size()) >= engine.config().max_sequences ||
      engine.cache().num_sequences() >= engine.config().max_sequences)
    return false;
  std::unique_ptr<SchedRequest> r;
  {
    std::lock_guard lock(mutex);
    if (waiting.empty()) return false;
    r = std::move(waiting.front());
    waiting.pop_front();
  }
  kv::KvCache& cache = engine.cache();
  r->seq = engine.new_sequence();
  // Reuse the longest cached block-aligned prefix; at least one token is
  // computed, for the logits of the next token.
  const int64_t attached = cache.attach_prefix(*r->seq, r->input, int64_t(r->input.size()) - 1);
  r->fed = size_t(attached);
  const int64_t want = std::min<int64_t>(int64_t(r->input.size() - r->fed), budget);
  const int64_t n = fit(*r, want);
  const bool alone = running.empty() && items.empty();
  if (n < want && !alone) {
    // Admission needs blocks for the whole first chunk: a sequence that
    // could only trickle in would soon be preempted again.
    if (n > 0)
      for (int g = 0; g < cache.num_groups(); ++g) planned[size_t(g)] -= cache.blocks_needed(*r->seq, n, g);
    release(*r);
    r->fed = 0;
    std::lock_guard lock(mutex);
    waiting.push_front(std::move(r));
    return false;
  }
  if (n == 0) {  // alone and still nothing fits: the pool is smaller than one chunk's blocks
    fail(*r, "the prompt does not fit in the KV cache (" + std::to_string(r->input.size()) + " tokens)");
    return true;
  }
  if (!r->admitted_once) {
    r->admitted_once = true;
    r->t_admit = scheduler_now_ns();
    prefix_hit_tokens += attached;
  }
  items.push_back({*r->seq, std::span<const int32_t>(r->input.data() + r->fed, size_t(n)),
                   r->fed + size_t(n) == r->input.size()});
  item_owner.push_back(r.get());
  budget -= n;
  running.push_back(std::move(r));
  return true;
}

void Scheduler::Impl::preempt_newest() {
  sweep();
  if (running.empty()) return;
  std::unique_ptr<SchedRequest> r = std::move(running.back());
  running.pop_back();
  release(*r);
  // It resumes by prefilling what it held plus its pending token; its
  // pipeline (sampler, stop matcher, ...) keeps its state.
  r->input = r->params.prompt;
  const std::vector<int32_t>& generated = r->pipeline->tokens();
  r->input.insert(r->input.end(), generated.begin(), generated.end());
  r->fed = 0;
  r->generating = false;
  r->preempted = true;
  ++preemptions;
  std::lock_guard lock(mutex);
  waiting.push_front(std::move(r));
}

void Scheduler::Impl::consume(SchedRequest& r, std::span<const float> logits) {
  const size_t before = r.pipeline->tokens().size();
  const bool room = engine.cache().length(*r.seq) < r.limit;
  const GenerationPipeline::Step& step = r.pipeline->feed(logits, room);
  const int64_t now = scheduler_now_ns();
  if (!r.t_first) {
    r.t_first = now;
    if (metrics) metrics->ttft->observe(double(now - r.t_submit) * 1e-9);
  } else if (metrics) {
    metrics->itl->observe(double(now - r.t_last) * 1e-9);
  }
  r.t_last = now;
  tokens_out += int64_t(r.pipeline->tokens().size() - before);

  Event text;
  text.content = step.content;
  text.thinking = step.thinking;
  if (r.params.top_logprobs >= 0) text.logprobs = r.pipeline->take_logprobs();
  if (!text.content.empty() || !text.thinking.empty() || !text.logprobs.empty()) r.handle->push(std::move(text));
  if (step.ended)
    finish(r, step.reason);
  else
    r.next_token = step.token;
}

void Scheduler::Impl::run_batch() {
  items.clear();
  item_owner.clear();
  std::fill(planned.begin(), planned.end(), 0);
  int64_t budget = engine.config().batch;

  // 1. One decode token per generating sequence, oldest first.
  for (auto& p : running) {
    SchedRequest& r = *p;
    if (!r.generating) continue;
    if (!reserve(r, 1)) {
      if (running.size() == 1) {
        finish(r, DoneReason::Length);  // alone and the cache holds no more of it
      } else {
        preempt_newest();  // plan again next iteration
      }
      return;
    }
    items.push_back({*r.seq, std::span<const int32_t>(&r.next_token, 1), true});
    item_owner.push_back(&r);
    --budget;
  }
  // 2. Prefill chunks of admitted prompts, oldest first.
  for (auto& p : running) {
    SchedRequest& r = *p;
    if (r.generating || budget <= 0) continue;
    const int64_t n = fit(r, std::min<int64_t>(int64_t(r.input.size() - r.fed), budget));
    if (n == 0) continue;
    items.push_back({*r.seq, std::span<const int32_t>(r.input.data() + r.fed, size_t(n)),
                     r.fed + size_t(n) == r.input.size()});
    item_owner.push_back(&r);
    budget -= n;
  }
  // 3. New (or preempted) requests while a slot, budget and blocks remain.
  while (admit_next(budget)) {
  }
  if (items.empty()) {
    if (running.empty()) return;
    // Every admitted sequence waits for blocks another admitted one holds.
    if (running.size() > 1)
      preempt_newest();
    else
      fail(*running.front(), "the prompt does not fit in the KV cache");
    return;
  }

  std::span<const float> logits;
  try {
    logits = engine.step(items);
  } catch (const kv::OutOfBlocks& e) {
    // The plan should have prevented this; the step changed nothing.
    if (running.size() > 1)
      preempt_newest();
    else
      fail(*running.front(), std::string("the KV cache is too small: ") + e.what());
    return;
  } catch (const std::exception& e) {
    for (SchedRequest* r : item_owner) fail(*r, std::string("generation failed: ") + e.what());
    return;
  }

  const size_t vocab = size_t(engine.n_vocab());
  size_t row = 0;
  for (size_t k = 0; k < items.size(); ++k) {
    SchedRequest& r = *item_owner[k];
    if (!r.generating) {
      const int64_t n = int64_t(items[k].tokens.size());
      r.fed += size_t(n);
      tokens_in += n;
      if (!r.preempted) r.prompt_eval_count += n;
      if (r.fed == r.input.size()) r.generating = true;
    }
    if (!items[k].want_logits) continue;
    try {
      consume(r, logits.subspan(row * vocab, vocab));
    } catch (const std::exception& e) {
      fail(r, std::string("sampling failed: ") + e.what());
    }
    ++row;
  }
}

}  // namespace kiln::engine
