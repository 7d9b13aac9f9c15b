#pragma once
// Streamed HTTP answers (NDJSON for Ollama, server-sent events for OpenAI)
// on top of cpp-httplib's chunked content provider. The producer runs on the
// connection thread after the handler returns; every write reports whether
// the client is still there, so a producer stops (and cancels its engine
// request) as soon as a write fails or the socket closes.
#include <functional>
#include <string>
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

// Whether the client of a request still holds its connection open, for
// handlers that wait silently (prefill, a "stream": false answer). httplib
// 0.11 gives handlers no socket, and its is_writable() only asks whether a
// write would block, which stays true for a peer that has closed; so the
// probe finds the connection's socket by its address pair (local and remote
// address and port identify one TCP connection) and peeks at it: a socket
// whose peer has closed reads end-of-file. When the socket cannot be found
// the probe answers true (the next write notices instead).
class ConnectionProbe {
 public:
  explicit ConnectionProbe(const httplib::Request& req);
  bool alive();

 private:
  std::string remote_addr_, local_addr_;
  int remote_port_ = -1, local_port_ = -1;
  int fd_ = -2;  // -2: not looked up yet; -1: not found
};

inline constexpr const char* kNdjsonType = "application/x-ndjson";
inline constexpr const char* kSseType = "text/event-stream";

}  // namespace kiln::server
