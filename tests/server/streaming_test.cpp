// stream_response and ConnectionProbe: NDJSON and SSE framing over chunked
// transfer, and a producer noticing that its client went away, both while
// writing and while silent (what a long prefill looks like).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "server/http_server.h"
#include "server/streaming.h"
#include "server_fixture.h"

using namespace kiln::server_test;
using namespace std::chrono_literals;

namespace {

struct StreamServer {
  explicit StreamServer(std::function<void(kiln::server::Router&)> routes) {
    kiln::server::HttpOptions o;
    o.address = kiln::server::parse_listen_address("127.0.0.1:0");
    o.threads = 4;
    http = std::make_unique<kiln::server::HttpServer>(std::move(o));
    routes(http->router());
    http->start();
  }
  ~StreamServer() { http->stop(); }
  std::unique_ptr<kiln::server::HttpServer> http;
};

// A raw connection that sends one request and can be dropped at any point.
int connect_and_send(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  const std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}";
  if (::send(fd, req.data(), req.size(), 0) != ssize_t(req.size())) return -1;
  return fd;
}

// Reads until `needle` has arrived (or 10 s pass).
bool read_until(int fd, const std::string& needle) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  char buf[4096];
  while (got.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    got.append(buf, size_t(n));
  }
  return got.find(needle) != std::string::npos;
}

}  // namespace

TEST(Streaming, NdjsonAndSseFraming) {
  StreamServer s([](kiln::server::Router& r) {
    r.add("POST", "/ndjson", kiln::server::BodyMode::Json, [](kiln::server::Call& c) {
      kiln::server::stream_response(c, kiln::server::kNdjsonType, [](kiln::server::StreamWriter& w) {
        for (int i = 0; i < 3; ++i) w.ndjson(nlohmann::ordered_json{{"i", i}, {"text", "é\n"}});
      });
    });
    r.add("POST", "/sse", kiln::server::BodyMode::Json, [](kiln::server::Call& c) {
      kiln::server::stream_response(c, kiln::server::kSseType, [](kiln::server::StreamWriter& w) {
        w.sse(nlohmann::ordered_json{{"a", 1}});
        w.sse_done();
      });
    });
  });
  httplib::Client c("127.0.0.1", s.http->port());
  auto r = c.Post("/ndjson", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  EXPECT_EQ(r->body, "{\"i\":0,\"text\":\"é\\n\"}\n{\"i\":1,\"text\":\"é\\n\"}\n{\"i\":2,\"text\":\"é\\n\"}\n");
  r = c.Post("/sse", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  EXPECT_EQ(r->body, "data: {\"a\":1}\n\ndata: [DONE]\n\n");
}

TEST(Streaming, ExceptionInProducerEndsOnlyTheStream) {
  std::vector<std::string> logged;
  std::mutex m;
  StreamServer s([&](kiln::server::Router& r) {
    r.add("POST", "/throw", kiln::server::BodyMode::Json, [&](kiln::server::Call& c) {
      kiln::server::stream_response(
          c, kiln::server::kNdjsonType,
          [](kiln::server::StreamWriter& w) {
            w.ndjson({{"first", true}});
            throw std::runtime_error("boom");
          },
          [&](const std::string& line) {
            std::lock_guard lock(m);
            logged.push_back(line);
          });
    });
  });
  httplib::Client c("127.0.0.1", s.http->port());
  auto r = c.Post("/throw", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "{\"first\":true}\n");
  r = c.Post("/throw", "{}", "application/json");  // the server still answers
  ASSERT_TRUE(r);
  std::lock_guard lock(m);
  ASSERT_FALSE(logged.empty());
  EXPECT_NE(logged[0].find("boom"), std::string::npos);
}

// The producer writes one line, then stays silent and polls alive(): a
// client that closes its socket must be noticed without another write.
TEST(Streaming, SilentProducerNoticesClientGone) {
  std::atomic<bool> saw_gone{false}, finished{false};
  StreamServer s([&](kiln::server::Router& r) {
    r.add("POST", "/silent", kiln::server::BodyMode::Json, [&](kiln::server::Call& c) {
      kiln::server::stream_response(c, kiln::server::kNdjsonType, [&](kiln::server::StreamWriter& w) {
        w.ndjson({{"hello", 1}});
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
          if (!w.alive()) {
            saw_gone = true;
            break;
          }
          std::this_thread::sleep_for(10ms);
        }
        finished = true;
      });
    });
  });
  const int fd = connect_and_send(s.http->port(), "/silent");
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(read_until(fd, "{\"hello\":1}"));
  const auto closed_at = std::chrono::steady_clock::now();
  ::close(fd);
  while (!finished && std::chrono::steady_clock::now() - closed_at < 11s) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(saw_gone);
  EXPECT_LT(std::chrono::steady_clock::now() - closed_at, 2s);
}

// A writing producer sees write() fail once the client is gone.
TEST(Streaming, WritingProducerNoticesClientGone) {
  std::atomic<bool> saw_gone{false}, finished{false};
  StreamServer s([&](kiln::server::Router& r) {
    r.add("POST", "/chatty", kiln::server::BodyMode::Json, [&](kiln::server::Call& c) {
      kiln::server::stream_response(c, kiln::server::kNdjsonType, [&](kiln::server::StreamWriter& w) {
        for (int i = 0; i < 10000; ++i) {
          if (!w.ndjson({{"i", i}})) {
            saw_gone = true;
            break;
          }
          std::this_thread::sleep_for(1ms);
        }
        finished = true;
      });
    });
  });
  const int fd = connect_and_send(s.http->port(), "/chatty");
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(read_until(fd, "{\"i\":3}"));
  ::close(fd);
  const auto closed_at = std::chrono::steady_clock::now();
  while (!finished && std::chrono::steady_clock::now() - closed_at < 11s) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(saw_gone);
  EXPECT_LT(std::chrono::steady_clock::now() - closed_at, 2s);
}

// A client that keeps its connection open stays alive for the probe.
TEST(Streaming, ProbeSeesConnectedClient) {
  std::atomic<int> result{-1};
  StreamServer s([&](kiln::server::Router& r) {
    r.add("POST", "/probe", kiln::server::BodyMode::Json, [&](kiln::server::Call& c) {
      kiln::server::ConnectionProbe probe(c.req);
      result = probe.alive() ? 1 : 0;
      c.json(200, nlohmann::json{{"ok", true}});
    });
  });
  httplib::Client c("127.0.0.1", s.http->port());
  auto r = c.Post("/probe", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(result.load(), 1);
}
