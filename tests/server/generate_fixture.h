#pragma once
// An in-process server with a model pool and the real test models stored as
// "gemma" (gemma 3 270M) and, when present, "qwen" (Qwen2.5-Coder 0.5B
// Instruct, whose template has tools), for the /api/generate, /api/chat and
// /api/embed tests. One server per test suite; tests skip without the files.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "server/model_pool.h"
#include "server_fixture.h"

namespace kiln::server_test {

inline fs::path test_model(const std::string& file) {
  const char* dir = std::getenv("KILN_TEST_MODELS");
  const char* home = std::getenv("HOME");
  return (dir ? fs::path(dir) : fs::path(home ? home : "/root") / ".cache/kiln/models") / file;
}
inline fs::path gemma_file() { return test_model("gemma-3-270m-q4_k_m.gguf"); }
inline fs::path qwen_file() { return test_model("qwen-0.5b.gguf"); }

class ModelServer {
 public:
  explicit ModelServer(const std::string& tag, bool with_qwen) : server_(tag) {
    auto& state = server_.api().state();
    if (!state.models) {
      server::PoolConfig config;
      config.num_parallel = 2;
      state.models = std::make_shared<server::ModelPool>(state.store, config);
    }
    add("gemma", gemma_file());
    if (with_qwen && fs::exists(qwen_file())) {
      add("qwen", qwen_file());
      has_qwen_ = true;
    }
  }
  TestServer& server() { return server_; }
  bool has_qwen() const { return has_qwen_; }

  httplib::Result post(const std::string& path, const json& body) {
    auto c = server_.client();
    c->set_read_timeout(120);
    return c->Post(path.c_str(), body.dump(), "application/json");
  }
  // The NDJSON lines of a streamed answer.
  static std::vector<json> lines(const httplib::Result& r) {
    std::vector<json> out;
    if (!r) return out;
    std::istringstream in(r->body);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }

  // The loaded model's scheduler statistics (loads it if needed).
  engine::SchedulerStats stats(const std::string& model) {
    auto lease = server_.api().state().models->acquire(model, engine::Options{}, std::nullopt);
    return lease->scheduler->stats();
  }

  // Sends `body` to `path` on a raw socket and returns the socket once
  // `needle` has been read (-1 on failure), so a test can drop it mid-answer.
  int open_stream(const std::string& path, const json& body, const std::string& needle) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(server_.port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
    const std::string text = body.dump();
    const std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                            "Content-Length: " + std::to_string(text.size()) + "\r\n\r\n" + text;
    if (::send(fd, req.data(), req.size(), 0) != ssize_t(req.size())) return -1;
    if (needle.empty()) return fd;
    std::string got;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (got.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, size_t(n));
    }
    return got.find(needle) != std::string::npos ? fd : -1;
  }

 private:
  void add(const std::string& name, const fs::path& file) {
    // The blob goes in through the store (a copy), not hundreds of MB over HTTP.
    const auto blob = server_.api().state().store.blobs().import_file(file);
    json body = {{"model", name}, {"files", {{"model.gguf", blob.digest.str()}}}, {"stream", false}};
    auto r = server_.client()->Post("/api/create", body.dump(), "application/json");
    if (!r || r->status != 200) throw std::runtime_error("create " + name + ": " + (r ? r->body : "no response"));
  }

  TestServer server_;
  bool has_qwen_ = false;
};

// Sum of squares of a JSON vector.
inline double norm2(const json& v) {
  double s = 0;
  for (const auto& x : v) s += x.get<double>() * x.get<double>();
  return s;
}

}  // namespace kiln::server_test
