#pragma once
// The objects /api/generate and /api/chat stream, built exactly as Ollama
// writes them (api.GenerateResponse / api.ChatResponse, same key order):
//   generate: {"model","created_at","response","thinking"?,"done":false,"logprobs"?}
//             ... {"model","created_at","response":"","done":true,"done_reason",
//                  "context"?,"total_duration","load_duration","prompt_eval_count",
//                  "prompt_eval_duration","eval_count","eval_duration"}
//   chat:     {"model","created_at","message":{"role":"assistant","content",
//             "thinking"?,"tool_calls"?},"done":false,"logprobs"?} ... and the final
//             one with "done_reason" before "done" and the timings.
// Ollama omits zero timings (Go's omitempty); kiln always writes them so a
// client reading the final chunk finds every field.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/scheduler.h"
#include "engine/tool_call_parser.h"

namespace kiln::server {

// Go's time.Now().UTC() marshalled: RFC 3339 with nanoseconds, trailing zeros
// dropped, "Z".
std::string rfc3339_utc(std::chrono::system_clock::time_point t);

// Ollama 0.12's per-token logprobs: [{"token","logprob","bytes","top_logprobs"?}].
nlohmann::ordered_json logprobs_json(const std::vector<engine::TokenLogprobText>& tokens, bool with_top);

// Ollama's tool call: {"id","function":{"index","name","arguments"}}.
nlohmann::ordered_json tool_call_json(const engine::ToolCall& call);

struct FinalStats {
  engine::DoneReason reason = engine::DoneReason::Stop;
  int64_t total_ns = 0;
  int64_t load_ns = 0;
  engine::Timings timings;
  const std::vector<int32_t>* context = nullptr;  // generate: prompt + answer token ids
};

class ChunkBuilder {
 public:
  ChunkBuilder(std::string model, bool chat, bool with_top_logprobs)
      : model_(std::move(model)), chat_(chat), with_top_(with_top_logprobs) {}

  // A done:false chunk.
  nlohmann::ordered_json partial(const std::string& content, const std::string& thinking,
                                 const std::vector<engine::ToolCall>& calls,
                                 const std::vector<engine::TokenLogprobText>* logprobs) const;
  // The done:true chunk; `content` and `calls` are what the tool-call parser
  // released at the end (chat).
  nlohmann::ordered_json done(const FinalStats& stats, const std::string& content = {},
                               const std::vector<engine::ToolCall>& calls = {}) const;
  // The answer to a request that only loads or unloads the model
  // (done_reason "load" / "unload", no timings).
  nlohmann::ordered_json lifecycle(const char* done_reason) const;

 private:
  nlohmann::ordered_json head() const;
  nlohmann::ordered_json message(const std::string& content, const std::string& thinking,
                                 const std::vector<engine::ToolCall>& calls) const;

  std::string model_;
  bool chat_;
  bool with_top_;
};

}  // namespace kiln::server
