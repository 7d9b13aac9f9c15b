// Streaming an answer from the scheduler as Ollama's chunks
// (server/generation_answer.h).
#include "server/generation_answer.h"

#include <chrono>

namespace kiln::server {

namespace {
// How long run() waits for an event before it asks whether the client is
// still there: short enough that a client leaving during a long prefill
// frees its sequence at once.
constexpr std::chrono::milliseconds kPollInterval{50};
}  // namespace

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

EngineAnswer::~EngineAnswer() {
  if (!finished_ && s_.handle) s_.handle->cancel();
}

bool EngineAnswer::text_chunk(engine::Event& e, nlohmann::ordered_json& chunk) {
  std::string content = std::move(e.content);
  std::vector<engine::ToolCall> calls;
  if (s_.tools) {
    engine::ToolCallParser::Output out = s_.tools->feed(content);
    content = std::move(out.content);
    calls = std::move(out.calls);
  }
  const bool logprobs = s_.logprobs && !e.logprobs.empty();
  if (content.empty() && e.thinking.empty() && calls.empty() && !logprobs) return false;
  chunk = s_.builder.partial(content, e.thinking, calls, logprobs ? &e.logprobs : nullptr);
  return true;
}

nlohmann::ordered_json EngineAnswer::final_chunk(const engine::Event& done) {
  engine::ToolCallParser::Output rest;
  if (s_.tools) rest = s_.tools->finish();
  std::vector<int32_t> context;
  FinalStats stats;
  stats.reason = done.reason;
  stats.load_ns = s_.lease.load_ns();
  stats.total_ns = steady_now_ns() - s_.start_ns;
  stats.timings = done.timings;
  if (s_.context_prefix) {
    context = *s_.context_prefix;
    context.insert(context.end(), done.tokens.begin(), done.tokens.end());
    stats.context = &context;
  }
  return s_.builder.done(stats, rest.content, rest.calls);
}

void EngineAnswer::run(const ChunkSink& sink, const std::function<bool()>& alive) {
  auto client_left = [&] {
    s_.handle->cancel();  // the scheduler frees the sequence before its next step
    finished_ = true;
  };
  while (!finished_) {
    std::optional<engine::Event> event = s_.handle->next(kPollInterval);
    if (!event) {
      if (alive && !alive()) client_left();
      continue;
    }
    switch (event->kind) {
      case engine::Event::Kind::Text: {
        nlohmann::ordered_json chunk;
        if (text_chunk(*event, chunk) && !sink(chunk)) client_left();
        break;
      }
      case engine::Event::Kind::Done:
        finished_ = true;
        if (event->reason == engine::DoneReason::Cancelled)
          sink({{"error", "the request was cancelled (the model was unloaded or the server is stopping)"}});
        else
          sink(final_chunk(*event));
        break;
      case engine::Event::Kind::Error:
        finished_ = true;
        sink({{"error", event->error}});
        break;
    }
  }
}

}  // namespace kiln::server
