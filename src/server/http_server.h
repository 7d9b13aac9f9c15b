#pragma once
// The HTTP layer of `kiln serve`: cpp-httplib with a fixed pool of connection
// threads, kiln's Router, CORS and Host-header checks before routing, and one
// access-log line per request (gin's layout: time | status | latency | client
// | method "path"). It knows nothing of models; the API registers its routes.
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "server/cors.h"
#include "server/listen_address.h"
#include "server/router.h"

namespace httplib {
class Server;
}

namespace kiln::server {

struct HttpOptions {
  ListenAddress address;
  std::string origins;                     // KILN_ORIGINS
  size_t max_body_bytes = size_t{16} << 20;  // JSON bodies; blob uploads stream to disk
  size_t threads = 32;                     // connection threads (a streaming request holds one)
  // Receives access-log and error lines (without '\n'); null: silent.
  std::function<void(const std::string&)> log;
};

class HttpServer {
 public:
  explicit HttpServer(HttpOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  Router& router() { return router_; }
  const HttpOptions& options() const { return options_; }

  // Binds the listening socket; port 0 takes a free port. Returns the port.
  // Throws kiln::Error naming the address when it cannot be bound.
  int bind();
  int port() const { return port_; }
  // Serves until stop(); in-flight requests finish before it returns.
  void run();
  // bind() + run() on a background thread (tests).
  void start();
  // Stops accepting, lets running requests finish; safe from any thread.
  void stop();

 private:
  void install();
  void log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }

  HttpOptions options_;
  CorsPolicy cors_;
  Router router_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = -1;
  std::thread thread_;
};

}  // namespace kiln::server
