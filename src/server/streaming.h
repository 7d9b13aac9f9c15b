#pragma once
// Streamed HTTP answers (NDJSON for Ollama, server-sent events for OpenAI)
// on top of cpp-httplib's chunked content provider. The producer runs on the
// connection thread after the handler returns; every write reports whether
// the client is still there, so a producer stops (and cancels its engine
// request) as soon as a write fails or the socket closes.
#include <functional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/router.h"

namespace kiln::server {

class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Writes raw bytes; false once the client is gone.
  virtual bool write(std::string_view bytes) = 0;
  // True while the peer's socket is open (cheap; for long silent phases such
  // as prefill).
  virtual bool alive() = 0;
  // One NDJSON line: the object and '\n'.
  bool ndjson(const nlohmann::ordered_json& object);
  // One SSE event: "data: <object>\n\n".
  bool sse(const nlohmann::ordered_json& object);
  // "data: [DONE]\n\n".
  bool sse_done();
};

// Answers the call with status 200, `content_type`, chunked transfer, and a
// body produced by `produce`. Exceptions escaping produce end the stream (and
// are logged through the log function), never the server.
void stream_response(Call& call, const char* content_type, std::function<void(StreamWriter&)> produce,
                     std::function<void(const std::string&)> log = nullptr);

inline constexpr const char* kNdjsonType = "application/x-ndjson";
inline constexpr const char* kSseType = "text/event-stream";

}  // namespace kiln::server
