#pragma once
// The Scheduler's private state, shared by scheduler.cpp (submission, the
// thread, request lifetimes) and scheduler_batch.cpp (building and running
// one batch). Not part of the interface other code uses.
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <vector>

#include "engine/generation_pipeline.h"
#include "engine/grammar_mask.h"
#include "engine/scheduler.h"
#include "kv/kv_types.h"

namespace kiln::metrics {
class Counter;
class Gauge;
class Histogram;
}  // namespace kiln::metrics

namespace kiln::engine {

int64_t scheduler_now_ns();

// One submitted completion, from submit() to its Done event.
struct SchedRequest {
  std::shared_ptr<RequestHandle> handle;
  GenerateParams params;
  int64_t limit = 0;  // most tokens its sequence may hold: min(num_ctx, context)
  std::unique_ptr<TokenMasker> masker;  // for params.grammar
  std::optional<GenerationPipeline> pipeline;

  // What the sequence must hold before the next token is sampled: the
  // prompt, and after a preemption also the tokens generated so far.
  std::vector<int32_t> input;
  size_t fed = 0;                // tokens of input in the sequence (attached or computed)
  std::optional<kv::SeqId> seq;  // while admitted
  bool generating = false;       // input is all in: next_token is what runs next
  int32_t next_token = -1;
  bool admitted_once = false;
  bool preempted = false;  // its prompt was computed once already: prompt_eval_count stays
  bool done = false;  // its Done/Error event is out; swept from `running`

  int64_t t_submit = 0, t_admit = 0, t_first = 0, t_last = 0;  // steady clock, ns
  int64_t prompt_eval_count = 0;
};

struct EmbedJob {
  std::vector<int32_t> tokens;
  std::promise<std::vector<float>> result;
};

struct SchedulerMetrics {
  metrics::Gauge *queue_depth, *running, *blocks_used, *blocks_free, *blocks_shared;
  metrics::Counter *prefix_hits, *prompt_tokens, *generated_tokens;
  metrics::Histogram *ttft, *itl;
  // The KV tiers (kv/tier_stats.h), one series per tier=ram|disk; the
  // cache keeps running totals, so they are published as gauges.
  struct Tier {
    metrics::Gauge *blocks, *bytes, *hits, *misses, *evictions;
  };
  Tier ram, disk;
  metrics::Gauge *disk_restore_seconds, *disk_budget_bytes;
};

struct Scheduler::Impl {
  Impl(Engine& engine, const SchedulerConfig& config);

  Engine& engine;
  const SchedulerConfig& config;
  std::optional<SchedulerMetrics> metrics;

  // ---- shared with submitting threads (under mutex)
  mutable std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::unique_ptr<SchedRequest>> waiting;  // preempted ones at the front
  std::deque<std::shared_ptr<EmbedJob>> jobs;
  int active = 0;  // requests and embedding jobs submitted and not yet done
  bool stopping = false;
  SchedulerStats published;
  std::mutex trie_mutex;  // builds the vocabulary trie once, for the first grammar
  std::shared_ptr<const TokenTrie> trie;

  // ---- the scheduler thread only
  std::vector<std::unique_ptr<SchedRequest>> running;  // admission order
  std::unique_ptr<SamplingWorkspace> workspace;
  std::vector<BatchItem> items;
  std::vector<SchedRequest*> item_owner;
  std::vector<int64_t> planned;  // blocks promised to this step's items, per group
  int64_t prefix_hit_tokens = 0, tokens_in = 0, tokens_out = 0, preemptions = 0;
  int ended = 0;  // requests finished since the last publish()
  std::thread thread;

  void loop();
  // One iteration: cancellations, embedding jobs, one batch.
  void drop_cancelled();
  void run_jobs();
  void run_batch();
  // scheduler_batch.cpp
  bool reserve(const SchedRequest& r, int64_t n);
  int64_t fit(const SchedRequest& r, int64_t n);
  bool admit_next(int64_t& budget);
  void preempt_newest();
  void consume(SchedRequest& r, std::span<const float> logits);
  // Ends a request: pushes its last text and the Done (or Error) event and
  // frees its sequence; sweep() then drops it from `running`.
  void finish(SchedRequest& r, DoneReason reason);
  void fail(SchedRequest& r, const std::string& message);
  void release(SchedRequest& r);
  void sweep();
  void publish();
  void shutdown();
};

}  // namespace kiln::engine
