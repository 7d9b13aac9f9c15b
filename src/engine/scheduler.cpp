// The Scheduler's public side and request lifetimes: submission and its
// checks, the thread's loop, cancellation, embedding jobs, the end of a
// request (events, timings, freeing its sequence), stats and metrics.
// Building and running one batch is in scheduler_batch.cpp.
#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/metrics.h"
#include "engine/scheduler_impl.h"
#include "kv/kv_cache.h"

namespace kiln::engine {

int64_t scheduler_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- RequestHandle

std::optional<Event> RequestHandle::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (delivered_end_) return std::nullopt;
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
  Event e = std::move(events_.front());
  events_.pop_front();
  if (e.kind != Event::Kind::Text) delivered_end_ = true;
  return e;
}

void RequestHandle::cancel() { cancelled_.store(true); }

void RequestHandle::push(Event e) {
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    if (e.kind != Event::Kind::Text) finished_ = true;
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

// ---- Scheduler

namespace {

SchedulerMetrics::Tier tier_metrics(metrics::Registry& m, const metrics::Labels& model, const char* tier) {
  metrics::Labels l = model;
  l.emplace_back("tier", tier);
  return {
      &m.gauge("kiln_kv_tier_blocks", "KV blocks held by a tier (RAM: registered prefix blocks; disk: entries)", l),
      &m.gauge("kiln_kv_tier_bytes", "Bytes of the KV blocks a tier holds", l),
      &m.gauge("kiln_kv_tier_hits", "KV blocks reused from a tier since start", l),
      &m.gauge("kiln_kv_tier_misses", "KV blocks looked for in a tier and not found since start", l),
      &m.gauge("kiln_kv_tier_evictions", "KV blocks evicted from a tier since start", l),
  };
}

void publish_tiers(SchedulerMetrics& m, const kv::KvTierStats& t) {
  auto set = [](SchedulerMetrics::Tier& g, uint64_t blocks, uint64_t bytes, uint64_t hits, uint64_t misses,
                uint64_t evictions) {
    g.blocks->set(double(blocks));
    g.bytes->set(double(bytes));
    g.hits->set(double(hits));
    g.misses->set(double(misses));
    g.evictions->set(double(evictions));
  };
  set(m.ram, t.ram.blocks, t.ram.bytes, t.ram.hits, t.ram.misses, t.ram.evictions);
  set(m.disk, t.disk.blocks, t.disk.bytes, t.disk.hits, t.disk.misses, t.disk.evictions);
  m.disk_restore_seconds->set(double(t.disk.restore_ns) * 1e-9);
  m.disk_budget_bytes->set(double(t.disk.budget_bytes));
}

}  // namespace

Scheduler::Impl::Impl(Engine& e, const SchedulerConfig& c) : engine(e), config(c) {
  workspace = std::make_unique<SamplingWorkspace>(int32_t(engine.n_vocab()));
  items.reserve(size_t(engine.config().max_sequences));
  item_owner.reserve(size_t(engine.config().max_sequences));
  planned.assign(size_t(engine.cache().num_groups()), 0);
  running.reserve(size_t(engine.config().max_sequences));
  if (config.metrics) {
    metrics::Registry& m = *config.metrics;
    const metrics::Labels model{{"model", config.model_label}};
    auto with = [&](const char* k, const char* v) {
      metrics::Labels l = model;
      l.emplace_back(k, v);
      return l;
    };
    const char* blocks_help = "KV cache blocks by state, summed over layer groups";
    const std::vector<double> latency = metrics::exponential_buckets(0.001, 2, 16);  // 1 ms .. 33 s
    metrics.emplace(SchedulerMetrics{
        &m.gauge("kiln_queue_depth", "Requests waiting for a sequence slot or KV blocks", model),
        &m.gauge("kiln_running_sequences", "Sequences admitted (prefilling or generating)", model),
        &m.gauge("kiln_kv_blocks", blocks_help, with("state", "used")),
        &m.gauge("kiln_kv_blocks", blocks_help, with("state", "free")),
        &m.gauge("kiln_kv_blocks", blocks_help, with("state", "shared")),
        &m.counter("kiln_prefix_cache_hit_tokens_total", "Prompt tokens reused from the prefix cache", model),
        &m.counter("kiln_prompt_tokens_total", "Prompt tokens computed", model),
        &m.counter("kiln_generated_tokens_total", "Tokens generated", model),
        &m.histogram("kiln_time_to_first_token_seconds", "Time from submission to the first generated token",
                     latency, model),
        &m.histogram("kiln_inter_token_latency_seconds", "Time between consecutive generated tokens", latency,
                     model),
        tier_metrics(m, model, "ram"),
        tier_metrics(m, model, "disk"),
        &m.gauge("kiln_kv_tier_restore_seconds", "Time spent restoring KV blocks from the disk tier", model),
        &m.gauge("kiln_kv_tier_budget_bytes", "Byte budget of the KV disk tier (0: no disk tier)", model),
    });
  }
}

Scheduler::Scheduler(const std::filesystem::path& model_path, SchedulerConfig config) : config_(std::move(config)) {
  EngineConfig ec = config_.engine;
  if (ec.batch < ec.max_sequences)
    throw kiln::Error("the batch (" + std::to_string(ec.batch) + " tokens) must hold one token of each of " +
                      std::to_string(ec.max_sequences) + " sequences");
  if (config_.kv_blocks < 0) throw kiln::Error("kv_blocks must not be negative");
  ec.kv_blocks = config_.kv_blocks;
  engine_ = std::make_unique<Engine>(model_path, ec);
  config_.engine = engine_->config();
  impl_ = std::make_unique<Impl>(*engine_, config_);
  impl_->publish();
  impl_->thread = std::thread([this] { impl_->loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

std::shared_ptr<RequestHandle> Scheduler::submit(GenerateParams params) {
  if (params.prompt.empty()) throw kiln::Error("cannot generate from an empty prompt");
  const int64_t limit = std::min<int64_t>(params.options.num_ctx, engine_->config().context);
  if (int64_t(params.prompt.size()) >= limit)
    throw kiln::Error("the prompt is " + std::to_string(params.prompt.size()) +
                      " tokens, more than the context of " + std::to_string(limit) +
                      " holds (num_ctx); it must leave room for at least one generated token");
  for (int32_t t : params.prompt)
    if (t < 0 || t >= engine_->n_vocab())
      throw kiln::Error("prompt token id " + std::to_string(t) + " is outside the vocabulary of " +
                        std::to_string(engine_->n_vocab()));

  auto r = std::make_unique<SchedRequest>();
  r->limit = limit;
  if (params.grammar) {
    std::shared_ptr<const TokenTrie> trie;
    {
      std::lock_guard lock(impl_->trie_mutex);  // the first grammar builds it; later ones share it
      if (!impl_->trie) impl_->trie = std::make_shared<const TokenTrie>(engine_->tokenizer());
      trie = impl_->trie;
    }
    r->masker = std::make_unique<TokenMasker>(params.grammar, std::move(trie));
  }
  PipelineSetup setup;
  setup.options = params.options;
  setup.grammar = params.grammar;
  setup.masker = r->masker.get();
  setup.thinking = params.thinking;
  setup.top_logprobs = params.top_logprobs;
  setup.workspace = impl_->workspace.get();  // used only on the scheduler thread
  // Built here so that bad options fail the submit, not the stream.
  r->pipeline.emplace(engine_->tokenizer(), int32_t(engine_->n_vocab()), std::move(setup), params.prompt);
  r->input = params.prompt;
  r->params = std::move(params);
  r->handle = std::make_shared<RequestHandle>();
  r->t_submit = scheduler_now_ns();
  std::shared_ptr<RequestHandle> handle = r->handle;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) throw kiln::Error("the model is being unloaded");
    if (impl_->waiting.size() >= config_.max_queue)
      throw QueueFull("server busy: " + std::to_string(impl_->waiting.size()) + " requests are waiting (max " +
                      std::to_string(config_.max_queue) + ")");
    impl_->waiting.push_back(std::move(r));
    ++impl_->active;
    impl_->published.waiting = int(impl_->waiting.size());
  }
  impl_->wake.notify_all();
  return handle;
}

std::vector<float> Scheduler::embed(std::vector<int32_t> tokens) {
  if (tokens.empty()) throw kiln::Error("cannot embed an empty input");
  if (int64_t(tokens.size()) > engine_->config().context)
    throw kiln::Error("the input is " + std::to_string(tokens.size()) + " tokens, more than the context of " +
                      std::to_string(engine_->config().context) + " holds (num_ctx)");
  for (int32_t t : tokens)
    if (t < 0 || t >= engine_->n_vocab())
      throw kiln::Error("token id " + std::to_string(t) + " is outside the vocabulary");
  auto job = std::make_shared<EmbedJob>();
  job->tokens = std::move(tokens);
  std::future<std::vector<float>> result = job->result.get_future();
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) throw kiln::Error("the model is being unloaded");
    impl_->jobs.push_back(std::move(job));
    ++impl_->active;  // not idle until the job is done
  }
  impl_->wake.notify_all();
  return result.get();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(impl_->mutex);
  SchedulerStats s = impl_->published;
  s.waiting = int(impl_->waiting.size());
  return s;
}

bool Scheduler::idle() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->active == 0;
}

// ---- the scheduler thread

void Scheduler::Impl::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return stopping || !waiting.empty() || !running.empty() || !jobs.empty(); });
      if (stopping) break;
    }
    drop_cancelled();
    run_jobs();
    run_batch();
    sweep();
    publish();
  }
  shutdown();
}

void Scheduler::Impl::drop_cancelled() {
  for (auto& r : running)
    if (r->handle->cancelled()) finish(*r, DoneReason::Cancelled);
  sweep();
  std::vector<std::unique_ptr<SchedRequest>> gone;
  {
    std::lock_guard lock(mutex);
    for (auto it = waiting.begin(); it != waiting.end();) {
      if ((*it)->handle->cancelled()) {
        gone.push_back(std::move(*it));
        it = waiting.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& r : gone) finish(*r, DoneReason::Cancelled);
}

void Scheduler::Impl::run_jobs() {
  for (;;) {
    std::shared_ptr<EmbedJob> job;
    {
      std::lock_guard lock(mutex);
      if (jobs.empty()) return;
      job = std::move(jobs.front());
      jobs.pop_front();
    }
    // The job needs a sequence slot and blocks for its text: running
    // sequences make room (they resume later, mostly from the prefix cache).
    for (;;) {
      try {
        if (engine.cache().num_sequences() >= engine.config().max_sequences && !running.empty()) {
          preempt_newest();
          continue;
        }
        job->result.set_value(engine.embed(job->tokens));
      } catch (const kv::OutOfBlocks& e) {
        if (!running.empty()) {
          preempt_newest();
          continue;
        }
        job->result.set_exception(std::make_exception_ptr(
            kiln::Error(std::string("the input does not fit in the KV cache: ") + e.what())));
      } catch (...) {
        job->result.set_exception(std::current_exception());
      }
      break;
    }
    std::lock_guard lock(mutex);
    --active;
  }
}

void Scheduler::Impl::release(SchedRequest& r) {
  if (!r.seq) return;
  engine.free_sequence(*r.seq);
  r.seq.reset();
}

void Scheduler::Impl::finish(SchedRequest& r, DoneReason reason) {
  if (r.done) return;
  const GenerationPipeline::Step& last = r.pipeline->finish(reason);
  if (!last.content.empty() || !last.thinking.empty()) {
    Event text;
    text.content = last.content;
    text.thinking = last.thinking;
    r.handle->push(std::move(text));
  }
  release(r);
  const int64_t now = scheduler_now_ns();
  Event done;
  done.kind = Event::Kind::Done;
  done.reason = reason;
  done.tokens = r.pipeline->tokens();
  done.timings.total_ns = now - r.t_submit;
  done.timings.prompt_eval_count = r.prompt_eval_count;
  if (r.admitted_once) done.timings.prompt_eval_ns = (r.t_first ? r.t_first : now) - r.t_admit;
  done.timings.eval_count = int64_t(done.tokens.size());
  if (r.t_first) done.timings.eval_ns = r.t_last - r.t_first;
  r.done = true;
  r.handle->push(std::move(done));
  ++ended;
}

void Scheduler::Impl::fail(SchedRequest& r, const std::string& message) {
  if (r.done) return;
  release(r);
  Event e;
  e.kind = Event::Kind::Error;
  e.error = message;
  r.done = true;
  r.handle->push(std::move(e));
  ++ended;
}

void Scheduler::Impl::sweep() {
  std::erase_if(running, [](const std::unique_ptr<SchedRequest>& r) { return r->done; });
}

void Scheduler::Impl::publish() {
  SchedulerStats s;
  s.running = int(running.size());
  const kv::KvCache& cache = engine.cache();
  for (int g = 0; g < cache.num_groups(); ++g) {
    const kv::BlockPool& pool = cache.pool(g);
    s.kv_blocks_total += pool.num_blocks();
    s.kv_blocks_used += pool.used_count();
    s.kv_blocks_free += pool.available();
    for (int b = 0; b < pool.num_blocks(); ++b) s.kv_blocks_shared += pool.refcount(kv::BlockId(b)) > 1;
  }
  s.prefix_hit_tokens = prefix_hit_tokens;
  s.tokens_in = tokens_in;
  s.tokens_out = tokens_out;
  s.preemptions = preemptions;
  size_t queued;
  {
    std::lock_guard lock(mutex);
    s.waiting = int(waiting.size());
    queued = waiting.size();
    const SchedulerStats before = published;
    published = s;
    // Requests count as done for idle() only now, with their stats out.
    active -= ended;
    ended = 0;
    if (metrics) {
      metrics->prefix_hits->inc(uint64_t(s.prefix_hit_tokens - before.prefix_hit_tokens));
      metrics->prompt_tokens->inc(uint64_t(s.tokens_in - before.tokens_in));
      metrics->generated_tokens->inc(uint64_t(s.tokens_out - before.tokens_out));
    }
  }
  if (metrics) {
    metrics->queue_depth->set(double(queued));
    metrics->running->set(double(s.running));
    metrics->blocks_used->set(double(s.kv_blocks_used));
    metrics->blocks_free->set(double(s.kv_blocks_free));
    metrics->blocks_shared->set(double(s.kv_blocks_shared));
    publish_tiers(*metrics, engine.cache().tier_stats());
  }
}

void Scheduler::Impl::shutdown() {
  for (auto& r : running) finish(*r, DoneReason::Cancelled);
  running.clear();
  std::deque<std::unique_ptr<SchedRequest>> left;
  std::deque<std::shared_ptr<EmbedJob>> left_jobs;
  {
    std::lock_guard lock(mutex);
    left.swap(waiting);
    left_jobs.swap(jobs);
  }
  for (auto& r : left) finish(*r, DoneReason::Cancelled);
  for (auto& j : left_jobs) j->result.set_exception(std::make_exception_ptr(kiln::Error("the model was unloaded")));
  publish();
  std::lock_guard lock(mutex);
  active -= int(left_jobs.size());
}

}  // namespace kiln::engine
