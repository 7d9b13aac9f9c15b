#pragma once
// A small blocking client for a running `kiln serve` (or Ollama): what `kiln
// ps`, `kiln stop` and `kiln run` use to talk to the server at KILN_HOST, as
// Ollama's CLI talks to OLLAMA_HOST. JSON in, JSON out; an error answer
// ({"error": "..."}) becomes a kiln::Error carrying the server's message.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace httplib {
class Client;
}

namespace kiln::client {

// A refused connection or a timeout: no server (or not one that answers).
class Unreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ApiClient {
 public:
  // `host` as KILN_HOST is written ("", "host:port", "http://host:port").
  explicit ApiClient(const std::string& host);
  // KILN_HOST from the environment.
  static ApiClient from_env();
  ~ApiClient();
  ApiClient(ApiClient&&) noexcept;

  const std::string& url() const { return url_; }

  // True when GET /api/version answers 200 within `timeout`.
  bool reachable(std::chrono::milliseconds timeout);

  // Throws Unreachable when nothing answers, kiln::Error with the server's
  // message for an error status.
  nlohmann::json get(const std::string& path);
  nlohmann::json post(const std::string& path, const nlohmann::json& body);
  // POSTs and hands each NDJSON line of the answer to on_line, until the
  // stream ends, on_line returns false, or *cancel turns true (the
  // connection is then closed, which cancels the request on the server).
  // An {"error": ...} line throws kiln::Error.
  void post_stream(const std::string& path, const nlohmann::json& body,
                   const std::function<bool(const nlohmann::json&)>& on_line, const std::atomic<bool>* cancel = nullptr);

 private:
  httplib::Client& http();
  std::string url_;
  std::string host_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> http_;
};

// "could not connect to kiln server at <url>, is it running? (kiln serve)"
std::string unreachable_message(const std::string& url);

}  // namespace kiln::client
