#pragma once
// The NativeGeneration objects start_chat / start_generate return: an answer
// streamed from the model's scheduler, and a fixed answer (a request that
// only loads or unloads the model).
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "engine/scheduler.h"
#include "engine/tool_call_parser.h"
#include "server/generation.h"
#include "server/generation_chunks.h"
#include "server/model_pool.h"

namespace kiln::server {

// Nanoseconds on the steady clock (request timings).
int64_t steady_now_ns();

class FixedAnswer final : public NativeGeneration {
 public:
  FixedAnswer(nlohmann::ordered_json chunk, ModelPool::Lease lease = {})
      : chunk_(std::move(chunk)), lease_(std::move(lease)) {}
  void run(const ChunkSink& sink, const std::function<bool()>&) override { sink(chunk_); }

 private:
  nlohmann::ordered_json chunk_;
  ModelPool::Lease lease_;
};

struct EngineAnswerSetup {
  ModelPool::Lease lease;
  std::shared_ptr<engine::RequestHandle> handle;
  ChunkBuilder builder;
  std::optional<engine::ToolCallParser> tools;  // set when the request has tools
  bool logprobs = false;
  // generate (not raw): the final chunk's "context" is these + the answer's tokens.
  std::optional<std::vector<int32_t>> context_prefix;
  int64_t start_ns = 0;  // when the request arrived (total_duration)
};

class EngineAnswer final : public NativeGeneration {
 public:
  explicit EngineAnswer(EngineAnswerSetup setup) : s_(std::move(setup)) {}
  // An answer dropped before it finished (never run, or its client left)
  // stops its request, so no sequence runs for nobody.
  ~EngineAnswer() override;
  void run(const ChunkSink& sink, const std::function<bool()>& alive) override;

 private:
  // One Text event as a chunk; false when there is nothing to send.
  bool text_chunk(engine::Event& event, nlohmann::ordered_json& chunk);
  nlohmann::ordered_json final_chunk(const engine::Event& done);

  EngineAnswerSetup s_;
  bool finished_ = false;
};

}  // namespace kiln::server
