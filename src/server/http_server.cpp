#include "server/http_server.h"

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "core/error.h"
#include "server/http_error.h"

namespace kiln::server {
namespace {

// When the current request started: the pre-routing handler and the logger
// run on the same connection thread, before and after the response.
thread_local std::chrono::steady_clock::time_point t_request_start;

std::string latency_text(std::chrono::steady_clock::duration d) {
  const double us = std::chrono::duration<double, std::micro>(d).count();
  char buf[32];
  if (us < 1000) std::snprintf(buf, sizeof buf, "%.3fµs", us);
  else if (us < 1e6) std::snprintf(buf, sizeof buf, "%.3fms", us / 1e3);
  else std::snprintf(buf, sizeof buf, "%.3fs", us / 1e6);
  return buf;
}

std::string access_line(const httplib::Request& req, const httplib::Response& res) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y/%m/%d - %H:%M:%S", &tm);
  char line[512];
  std::snprintf(line, sizeof line, "[kiln] %s | %3d | %13s | %15s | %-7s \"%.300s\"", when, res.status,
                latency_text(std::chrono::steady_clock::now() - t_request_start).c_str(), req.remote_addr.c_str(),
                req.method.c_str(), req.path.c_str());
  return line;
}

}  // namespace

HttpServer::HttpServer(HttpOptions options)
    : options_(std::move(options)), cors_(options_.origins), router_(options_.max_body_bytes),
      http_(std::make_unique<httplib::Server>()) {
  install();
}

HttpServer::~HttpServer() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::install() {
  httplib::Server& s = *http_;
  const size_t threads = options_.threads ? options_.threads : 32;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // The router enforces the limits itself (blob uploads are unbounded and
  // streamed to disk), so httplib's own limit stays off.
  s.set_payload_max_length(std::numeric_limits<size_t>::max());
  // SO_REUSEADDR (a restart can bind while old connections sit in TIME_WAIT)
  // but not httplib's default SO_REUSEPORT, which would let a second server
  // bind the same port and silently take half the connections.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.set_tcp_nodelay(true);  // small JSON answers and stream chunks go out at once
  s.set_keep_alive_timeout(5);
  s.set_read_timeout(30);
  s.set_write_timeout(30);

  const bool loopback = options_.address.is_loopback();
  s.set_pre_routing_handler([this, loopback](const httplib::Request& req, httplib::Response& res) {
    t_request_start = std::chrono::steady_clock::now();
    // CORS first, as Ollama's middleware order has it. A same-origin request
    // that carries Origin (fetch does) is not a cross-origin request.
    const std::string origin = req.get_header_value("Origin");
    const std::string host = req.get_header_value("Host");
    if (!origin.empty() && origin != "http://" + host && origin != "https://" + host) {
      if (!cors_.allows(origin)) {
        res.status = 403;
        return httplib::Server::HandlerResponse::Handled;
      }
      res.set_header("Access-Control-Allow-Origin", cors_.allows_all() ? "*" : origin);
      res.set_header("Vary", "Origin");
      if (req.method == "OPTIONS") {
        res.set_header("Access-Control-Allow-Methods", CorsPolicy::allowed_methods());
        res.set_header("Access-Control-Allow-Headers", CorsPolicy::allowed_headers());
        res.set_header("Access-Control-Max-Age", CorsPolicy::kMaxAgeSeconds);
        res.status = 204;
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (loopback && !host_header_allowed(host)) {
      res.status = 403;
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  auto log_error = [this](const std::string& line) { log(line); };
  auto plain = [this, log_error](const httplib::Request& req, httplib::Response& res) {
    router_.dispatch(req, res, nullptr, log_error);
  };
  auto with_body = [this, log_error](const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& reader) {
    router_.dispatch(req, res, &reader, log_error);
  };
  // Every path goes to the router; httplib sends HEAD to the GET handler.
  s.Get(".*", plain);
  s.Options(".*", plain);
  s.Post(".*", with_body);
  s.Put(".*", with_body);
  s.Patch(".*", with_body);
  s.Delete(".*", with_body);

  // Exceptions that escape a content provider (streaming responses).
  s.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log("error: " + req.method + " " + req.path + ": " + what);
    res.status = 500;
    res.set_content(dump_json(nlohmann::json{{"error", what}}), kJsonType);
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    if (options_.log) options_.log(access_line(req, res));
  });
}

int HttpServer::bind() {
  const ListenAddress& a = options_.address;
  if (a.port == 0) {
    port_ = http_->bind_to_any_port(a.host);
    if (port_ < 0) throw Error("cannot listen on " + a.host + " (any port)");
  } else {
    if (!http_->bind_to_port(a.host, a.port)) throw Error("cannot listen on " + a.url() + ": address in use or not available");
    port_ = a.port;
  }
  return port_;
}

void HttpServer::run() {
  if (port_ < 0) bind();
  http_->listen_after_bind();
}

void HttpServer::start() {
  if (port_ < 0) bind();
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  // listen_after_bind sets is_running before accepting; wait for it so stop()
  // right after start() cannot be missed.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!http_->is_running()) {
    if (std::chrono::steady_clock::now() > deadline) throw Error("the HTTP server did not start on " + options_.address.url());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void HttpServer::stop() {
  if (http_) http_->stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

}  // namespace kiln::server
