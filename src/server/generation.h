#pragma once
// The native generation handlers (/api/generate, /api/chat) as objects the
// routes and the OpenAI translation layer share: one engine path, two wire
// formats.
//
// start_*() does everything that can fail with a client error before a byte
// of the answer is sent: parses and validates the body (Ollama's fields and
// options), leases the model from the pool (404 unknown, loading it if
// needed), renders the prompt (chat template, tools, think, system, suffix,
// raw), tokenizes, truncates to num_ctx as Ollama does, builds the grammar
// for `format`, and submits the request to the model's scheduler. Problems
// throw HttpError (400/404/503). run() then streams Ollama's chunks, exactly
// the objects /api/chat or /api/generate send with "stream": true (partial
// chunks with done:false, then one final chunk with done:true, done_reason
// and the timing fields); it returns when the answer is complete or when the
// sink returns false (the client went away: the request is cancelled and its
// KV blocks freed at once).
#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

#include "server/api_state.h"

namespace kiln::server {

// Receives each chunk; false = stop (client gone).
using ChunkSink = std::function<bool(const nlohmann::ordered_json& chunk)>;

class NativeGeneration {
 public:
  virtual ~NativeGeneration() = default;
  // Streams the answer's chunks. An engine failure after the first chunk is
  // sent as a final {"error": "..."} chunk, as Ollama does. `alive`, when
  // given, is polled while no chunk is due (prefill, a tool call being read):
  // false cancels the request as a failing sink does (StreamWriter::alive,
  // ConnectionProbe::alive).
  virtual void run(const ChunkSink& sink, const std::function<bool()>& alive = {}) = 0;
};

// Bodies are parsed with ordered_json (tool schemas keep their key order).
std::unique_ptr<NativeGeneration> start_chat(ApiState& state, const nlohmann::ordered_json& body);
std::unique_ptr<NativeGeneration> start_generate(ApiState& state, const nlohmann::ordered_json& body);

// Merges streamed chunks into the one object a "stream": false request gets
// (content, thinking, tool_calls and logprobs concatenated; the final
// chunk's fields kept).
class ChunkCollector {
 public:
  void add(const nlohmann::ordered_json& chunk);
  const nlohmann::ordered_json& result() const { return merged_; }

 private:
  nlohmann::ordered_json merged_;
};

}  // namespace kiln::server
