#include "client/api_client.h"

#include <httplib.h>

#include <cstdlib>

#include "core/error.h"
#include "server/listen_address.h"

namespace kiln::client {
namespace {

// The server's error text ({"error": "..."} or OpenAI's {"error": {"message"}}),
// else the status.
std::string error_text(int status, const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_string()) return e.get<std::string>();
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
  }
  return "server answered " + std::to_string(status) + (body.empty() ? "" : ": " + body);
}

nlohmann::json parse_answer(const httplib::Result& r, const std::string& url) {
  if (!r) throw Unreachable(unreachable_message(url));
  if (r->status >= 400) throw kiln::Error(error_text(r->status, r->body));
  if (r->body.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded()) throw kiln::Error("the server's answer is not JSON: " + r->body.substr(0, 200));
  return j;
}

}  // namespace

std::string unreachable_message(const std::string& url) {
  return "could not connect to kiln server at " + url + ", is it running? (kiln serve)";
}

ApiClient::ApiClient(const std::string& host) {
  server::ListenAddress a = server::parse_listen_address(host);
  // A server listening on every interface is reached through loopback.
  if (a.host == "0.0.0.0") a.host = "127.0.0.1";
  if (a.host == "::") a.host = "::1";
  url_ = a.url();
  host_ = a.host;
  port_ = a.port;
}

ApiClient ApiClient::from_env() {
  const char* h = std::getenv("KILN_HOST");
  return ApiClient(h ? h : "");
}

ApiClient::~ApiClient() = default;
ApiClient::ApiClient(ApiClient&&) noexcept = default;

httplib::Client& ApiClient::http() {
  if (!http_) {
    http_ = std::make_unique<httplib::Client>(url_);
    http_->set_connection_timeout(std::chrono::seconds(5));
    http_->set_read_timeout(std::chrono::minutes(10));  // a model load, or a long prefill
    http_->set_write_timeout(std::chrono::seconds(30));
  }
  return *http_;
}

bool ApiClient::reachable(std::chrono::milliseconds timeout) {
  httplib::Client probe(url_);
  probe.set_connection_timeout(timeout);
  probe.set_read_timeout(timeout);
  const auto r = probe.Get("/api/version");
  return r && r->status == 200;
}

nlohmann::json ApiClient::get(const std::string& path) { return parse_answer(http().Get(path), url_); }

nlohmann::json ApiClient::post(const std::string& path, const nlohmann::json& body) {
  return parse_answer(http().Post(path, body.dump(), "application/json"), url_);
}

void ApiClient::post_stream(const std::string& path, const nlohmann::json& body,
                            const std::function<bool(const nlohmann::json&)>& on_line,
                            const std::atomic<bool>* cancel) {
  std::string pending, error_body;
  std::string line_error;
  int status = 0;
  bool stopped = false;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.response_handler = [&](const httplib::Response& res) {
    status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (cancel && cancel->load()) {
      stopped = true;
      return false;
    }
    if (status >= 400) {
      error_body.append(data, n);
      return true;
    }
    pending.append(data, n);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.is_object() && j.contains("error") && j["error"].is_string()) {
        line_error = j["error"].get<std::string>();
        return false;
      }
      if (!on_line(j)) {
        stopped = true;
        return false;
      }
    }
    return true;
  };
  const auto r = http().send(req);
  if (!line_error.empty()) throw kiln::Error(line_error);
  if (stopped) return;
  if (!r) {
    if (r.error() == httplib::Error::Canceled) return;
    throw Unreachable(unreachable_message(url_));
  }
  if (status >= 400) throw kiln::Error(error_text(status, error_body));
}

}  // namespace kiln::client
