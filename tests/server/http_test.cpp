// The HTTP layer: routing (404/405), body limits (413), JSON errors, CORS,
// the Host-header check, the access log, 500 for unexpected failures, and a
// graceful stop that lets requests in flight finish.
#include <atomic>
#include <future>
#include <thread>

#include "server/http_server.h"
#include "server_fixture.h"

using namespace kiln::server_test;

TEST(Http, RootVersionAndPs) {
  TestServer s("root");
  auto c = s.client();
  auto r = c->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "Ollama is running");
  r = c->Head("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());

  r = c->Get("/api/version");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r), json({{"version", s.api().state().version}}));
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json; charset=utf-8");

  r = c->Get("/api/ps");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r), json({{"models", json::array()}}));
}

TEST(Http, UnknownPathsAndWrongMethods) {
  TestServer s("routes");
  auto c = s.client();
  auto r = c->Get("/api/nothing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_FALSE(error_of(r).empty());

  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& k : {Case{"GET", "/api/create", "POST"}, Case{"GET", "/api/show", "POST"},
                        Case{"POST", "/api/tags", "GET, HEAD"}, Case{"DELETE", "/api/tags", "GET, HEAD"},
                        Case{"POST", "/api/delete", "DELETE"}, Case{"PUT", "/api/copy", "POST"},
                        Case{"HEAD", "/api/ps", "GET"}}) {
    httplib::Request req;
    req.method = k.method;
    req.path = k.path;
    if (std::string(k.method) != "GET" && std::string(k.method) != "HEAD") req.body = "{}";
    auto res = c->send(req);
    ASSERT_TRUE(res) << k.method << " " << k.path;
    EXPECT_EQ(res->status, 405) << k.method << " " << k.path;
    EXPECT_EQ(res->get_header_value("Allow"), k.allow) << k.method << " " << k.path;
    if (std::string(k.method) != "HEAD") {
      EXPECT_EQ(error_of(res), "405 method not allowed");
    }
  }
}

TEST(Http, MalformedBodiesAre400) {
  TestServer s("bad-json");
  auto c = s.client();
  struct Case {
    const char* path;
    std::string body;
    std::string error;  // a fragment of the message
  };
  const std::vector<Case> cases = {
      {"/api/show", "", "missing request body"},
      {"/api/show", "{\"model\": ", "invalid JSON"},
      {"/api/show", "[1, 2]", "must be a JSON object"},
      {"/api/show", "\"text\"", "must be a JSON object"},
      {"/api/show", R"({"model": 5})", "'model': expected a string, got number"},
      {"/api/show", R"({"model": "x", "verbose": "yes"})", "'verbose': expected a boolean, got string"},
      {"/api/show", R"({})", "model is required"},
      {"/api/copy", R"({"source": ["a"], "destination": "b"})", "'source'"},
      {"/api/create", R"({"model": "m", "files": "x"})", "'files': expected an object"},
      {"/api/create", "{\"model\": \"\xff\xfe\"}", "invalid JSON"},  // not UTF-8
      {"/api/show", R"({"model": "x", "n": 1e999})", "invalid JSON"},  // number overflow (fuzz_store)
  };
  for (const auto& k : cases) {
    auto r = c->Post(k.path, k.body, "application/json");
    ASSERT_TRUE(r) << k.body;
    EXPECT_EQ(r->status, 400) << k.body << " -> " << r->body;
    EXPECT_NE(error_of(r).find(k.error), std::string::npos) << k.body << " -> " << r->body;
  }
  auto r = c->Delete("/api/delete", "{oops", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST(Http, OversizedBodyIs413) {
  TestServer s("limit", size_t{1} << 20);
  auto c = s.client();
  const json big = {{"model", std::string((size_t{1} << 20) + 10, 'a')}};
  auto r = c->Post("/api/show", big.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(error_of(r).find("too large"), std::string::npos) << r->body;
  // Just under the limit is read (and then judged on its merits: an invalid name).
  const json fits = {{"model", std::string((size_t{1} << 20) - 100, 'a')}};
  r = s.client()->Post("/api/show", fits.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r), "invalid model name");
  // A declared length far past the limit is refused without reading it.
  httplib::Request req;
  req.method = "POST";
  req.path = "/api/show";
  req.set_header("Content-Length", std::to_string(size_t{1} << 30));
  req.body = "{}";
  r = s.client()->send(req);
  if (r) {
    EXPECT_EQ(r->status, 413);  // the server may also just close the connection
  }
  // The server is still healthy.
  EXPECT_EQ(s.client()->Get("/api/version")->status, 200);
}

TEST(Http, CorsPreflightAndOrigins) {
  TestServer s("cors", size_t{16} << 20, "https://app.example.com");
  auto c = s.client();
  // Preflight from an allowed origin: 204 with the allowed methods and headers.
  httplib::Headers pre = {{"Origin", "http://localhost:5173"},
                          {"Access-Control-Request-Method", "POST"},
                          {"Access-Control-Request-Headers", "content-type"}};
  auto r = c->Options("/api/chat", pre);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://localhost:5173");
  EXPECT_NE(r->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_NE(r->get_header_value("Access-Control-Allow-Headers").find("Content-Type"), std::string::npos);
  EXPECT_EQ(r->get_header_value("Access-Control-Max-Age"), "43200");

  // A simple request from an allowed origin carries the header; the KILN_ORIGINS one too.
  r = c->Get("/api/tags", {{"Origin", "https://app.example.com"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "https://app.example.com");

  // Other origins are refused, preflight or not.
  r = c->Get("/api/tags", {{"Origin", "https://evil.example.com"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = c->Options("/api/tags", {{"Origin", "https://evil.example.com"}, {"Access-Control-Request-Method", "GET"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);

  // No Origin: not a CORS request, no CORS headers.
  r = c->Get("/api/tags");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
}

TEST(Http, HostHeaderMustNameThisMachineOnLoopback) {
  TestServer s("host");
  auto c = s.client();
  auto r = c->Get("/api/tags", {{"Host", "attacker.example:11434"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = c->Get("/api/tags", {{"Host", "localhost:" + std::to_string(s.port())}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(Http, AccessLogHasOneLinePerRequest) {
  TestServer s("log");
  auto c = s.client();
  ASSERT_EQ(c->Get("/api/version")->status, 200);
  ASSERT_EQ(c->Post("/api/show", "{}", "application/json")->status, 400);
  std::vector<std::string> lines;
  for (int i = 0; i < 100 && lines.size() < 2; ++i) {  // the logger runs after the response is sent
    lines = s.log();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("| 200 |"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("GET     \"/api/version\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("| 400 |"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("127.0.0.1"), std::string::npos) << lines[1];
}

TEST(Http, UnexpectedExceptionsAre500AndLogged) {
  std::vector<std::string> log;
  std::mutex m;
  kiln::server::HttpOptions o;
  o.address = kiln::server::parse_listen_address("127.0.0.1:0");
  o.log = [&](const std::string& line) {
    std::lock_guard lock(m);
    log.push_back(line);
  };
  kiln::server::HttpServer http(o);
  http.router().add("GET", "/boom", kiln::server::BodyMode::None,
                    [](kiln::server::Call&) -> void { throw std::runtime_error("disk on fire"); });
  http.start();
  httplib::Client c("127.0.0.1", http.port());
  auto r = c.Get("/boom");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(error_of(r), "disk on fire");
  http.stop();
  std::lock_guard lock(m);
  bool logged = false;
  for (const auto& l : log) logged |= l.find("error: GET /boom: disk on fire") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST(Http, StopLetsRequestsInFlightFinish) {
  TestServer s("stop");
  // A slow upload: the body trickles in while the server is told to stop.
  std::string bytes(256 << 10, 'z');
  const std::string d = kiln::store::sha256_of(bytes).str();
  std::promise<void> started;
  auto started_future = started.get_future();
  auto upload = std::async(std::launch::async, [&] {
    auto c = s.client();
    return c->Post(
        "/api/blobs/" + d,
        [&](size_t offset, httplib::DataSink& sink) {
          if (offset == 0) started.set_value();
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          const size_t n = std::min<size_t>(32 << 10, bytes.size() - offset);
          sink.write(bytes.data() + offset, n);
          if (offset + n == bytes.size()) sink.done();
          return true;
        },
        "application/octet-stream");
  });
  started_future.wait();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  s.api().http().stop();  // returns once the upload is answered
  auto r = upload.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_TRUE(fs::exists(s.store() / "blobs" / ("sha256-" + d.substr(7))));
  // New connections are refused now.
  httplib::Client late("127.0.0.1", s.port());
  late.set_connection_timeout(1);
  EXPECT_FALSE(late.Get("/api/version"));
}

TEST(Http, ConcurrentClients) {
  TestServer s("concurrent");
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      auto c = s.client();
      for (int i = 0; i < 25; ++i) {
        auto r = c->Get(i % 2 ? "/api/tags" : "/api/version");
        if (r && r->status == 200) ok++;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200);
}

TEST(Http, ASecondServerCannotTakeTheSamePort) {
  TestServer s("port-taken");
  kiln::server::HttpOptions o;
  o.address = kiln::server::parse_listen_address("127.0.0.1:" + std::to_string(s.port()));
  kiln::server::HttpServer second(o);
  EXPECT_THROW(second.bind(), kiln::Error);
}
