#pragma once
// Continuous batching over one loaded model: what `kiln serve` runs each
// model on.
//
// One scheduler thread owns the Engine. Each iteration it
//   1. drops cancelled requests (their sequences and blocks are freed at once),
//   2. admits waiting requests in arrival order while a sequence slot is free
//      and the KV cache can take the request's next prompt chunk; admission
//      first attaches the longest cached block-aligned prefix of the prompt
//      (KvCache::attach_prefix: any earlier request's blocks, same model and
//      cache type), so only the rest is computed,
//   3. builds one batch: one decode token for every generating sequence, then
//      chunks of prompts still being prefilled until `batch` tokens are used,
//   4. runs Engine::step on it and, for each row of logits, samples the next
//      token (grammar mask, the request's sampler), turns tokens into text
//      (whole UTF-8 characters, stop strings, thinking split: the same
//      GenerationPipeline `kiln run` uses) and pushes Events to the request.
// When a running sequence needs a block and none is free (blocks are shared
// by the prefix cache, so the pool is smaller than max_sequences x context),
// the most recently admitted sequence is preempted: its blocks go back (its
// computed full blocks stay findable in the prefix cache) and it waits at the
// head of the queue to resume with prompt + what it generated so far.
//
// Requests talk to their HTTP thread through a RequestHandle: the scheduler
// never blocks on a slow client, and a client that goes away calls cancel().
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/generation_pipeline.h"
#include "engine/options.h"
#include "engine/sampling_logprobs.h"
#include "engine/session.h"
#include "engine/thinking.h"

namespace kiln::metrics {
class Registry;
}

namespace kiln::engine {

class Grammar;

// One completion to run.
struct GenerateParams {
  std::vector<int32_t> prompt;  // token ids: template rendered, BOS added; not empty
  Options options;              // resolved: defaults <- model parameters <- request options
  // Constrained output (format / response_format): end of generation only
  // where the grammar is complete. nullptr: free text.
  std::shared_ptr<const Grammar> grammar;
  // Split the output at these tags into thinking and content (a template
  // with a thinking block, think not false). The scheduler decides from the
  // prompt's tail whether the block starts open, as Session does.
  std::optional<ThinkingTags> thinking;
  // -1: no logprobs; 0..kMaxTopLogprobs: the chosen token's logprob plus
  // that many alternatives, per generated token.
  int top_logprobs = -1;
};

// What a request receives, in order: any number of Text events, then exactly
// one Done (or Error) event.
struct Event {
  enum class Kind { Text, Done, Error };
  Kind kind = Kind::Text;
  std::string content;   // Text: released answer text
  std::string thinking;  // Text: released thinking text
  std::vector<TokenLogprobText> logprobs;  // Text: tokens generated since the last event (when asked)
  // Done:
  DoneReason reason = DoneReason::Stop;
  Timings timings;              // load_ns left 0 (the model pool adds it)
  std::vector<int32_t> tokens;  // every generated token id (end token excluded)
  std::string error;            // Error: why the request failed (the engine's message)
};

// The request's end of the queue between the scheduler and an HTTP handler.
class RequestHandle {
 public:
  // Waits up to `timeout` for the next event; nullopt when none came. After
  // the Done/Error event every call returns nullopt at once.
  std::optional<Event> next(std::chrono::milliseconds timeout);
  // Stops the request: the scheduler frees its sequence before its next step
  // and pushes a Done event with DoneReason::Cancelled. Idempotent; safe from
  // any thread.
  void cancel();
  bool cancelled() const { return cancelled_.load(); }

 private:
  friend class Scheduler;
  void push(Event e);  // scheduler side
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  bool finished_ = false;  // Done or Error was pushed
  bool delivered_end_ = false;
  std::atomic<bool> cancelled_{false};
};

// The queue is full (KILN_MAX_QUEUE): the server answers 503.
class QueueFull : public kiln::Error {
 public:
  using kiln::Error::Error;
};

struct SchedulerConfig {
  EngineConfig engine;     // context: most tokens of one sequence; max_sequences: parallel requests
  // KV blocks per layer group; 0: max_sequences x context (every sequence can
  // reach the full context without preemption).
  int kv_blocks = 0;
  size_t max_queue = 512;  // waiting requests beyond the running ones; more: QueueFull
  metrics::Registry* metrics = nullptr;  // null: no metrics
  std::string model_label;  // the "model" label of the scheduler's metrics
};

struct SchedulerStats {
  int running = 0;  // sequences admitted (prefilling or generating)
  int waiting = 0;  // queued requests
  int64_t kv_blocks_total = 0, kv_blocks_used = 0, kv_blocks_free = 0, kv_blocks_shared = 0;  // summed over groups
  int64_t prefix_hit_tokens = 0;  // prompt tokens reused from the cache since start
  int64_t tokens_in = 0, tokens_out = 0;  // computed prompt tokens, generated tokens since start
  int64_t preemptions = 0;  // sequences sent back to the queue to free blocks or a slot
};

class Scheduler {
 public:
  // Loads the model (Engine) and starts the scheduler thread. Throws
  // kiln::Error if the model cannot be loaded.
  Scheduler(const std::filesystem::path& model_path, SchedulerConfig config);
  // Cancels everything still queued or running and joins the thread.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Only for reading what does not change after load (tokenizer, model
  // config, engine config); the scheduler thread owns the rest.
  const Engine& engine() const { return *engine_; }
  const SchedulerConfig& config() const { return config_; }

  // Queues a completion. Throws QueueFull when max_queue requests wait, and
  // kiln::Error (a client error) when the prompt is empty or does not leave
  // room for one generated token within min(options.num_ctx, context).
  std::shared_ptr<RequestHandle> submit(GenerateParams params);

  // The embedding of a text (token ids), pooled as the GGUF's
  // <arch>.pooling_type says (mean, cls, last; last for decoder models that
  // name none), not normalized. Runs on the scheduler thread between steps;
  // blocks the caller. Throws kiln::Error when the input is longer than the
  // context.
  std::vector<float> embed(std::vector<int32_t> tokens);

  SchedulerStats stats() const;
  // True when nothing runs or waits (the model pool may unload it).
  bool idle() const;

 private:
  struct Impl;
  SchedulerConfig config_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::engine
