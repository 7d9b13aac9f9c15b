// POST /api/generate and POST /api/chat: the native handlers
// (server/generation.h) answered as NDJSON chunks, or as one object with
// "stream": false.
#include "server/generation.h"
#include "server/generation_request.h"
#include "server/routes.h"
#include "server/streaming.h"

namespace kiln::server {
namespace {

using ojson = nlohmann::ordered_json;

void answer(ApiState& state, Call& c, bool chat) {
  const ojson body = parse_ordered_body(c.body());
  // Every client error is thrown here, before a byte of the answer.
  std::unique_ptr<NativeGeneration> generation = chat ? start_chat(state, body) : start_generate(state, body);
  const auto stream = body.find("stream");
  if (stream != body.end() && stream->is_boolean() && !stream->get<bool>()) {
    ChunkCollector collector;
    ConnectionProbe probe(c.req);
    generation->run(
        [&](const ojson& chunk) {
          collector.add(chunk);
          return true;
        },
        [&] { return probe.alive(); });
    const ojson& result = collector.result();
    // An engine failure after the request was accepted: Ollama answers 500.
    if (result.contains("error")) c.json(500, ojson{{"error", result["error"]}});
    else c.json(200, result);
    return;
  }
  std::shared_ptr<NativeGeneration> shared = std::move(generation);
  stream_response(
      c, kNdjsonType,
      [shared](StreamWriter& out) {
        shared->run([&](const ojson& chunk) { return out.ndjson(chunk); }, [&] { return out.alive(); });
      },
      state.log);
}

}  // namespace

void add_generate_routes(Router& r, ApiState& state) {
  r.add("POST", "/api/generate", BodyMode::Json, [&state](Call& c) { answer(state, c, false); });
  r.add("POST", "/api/chat", BodyMode::Json, [&state](Call& c) { answer(state, c, true); });
}

}  // namespace kiln::server
