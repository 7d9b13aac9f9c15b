#pragma once
// Routing on top of cpp-httplib: kiln registers one catch-all handler per
// method with httplib and dispatches here, so that it alone decides 404
// (no such path) versus 405 (path exists, method does not), reads request
// bodies within a size limit (413 past it, never unbounded in memory), and
// maps every exception to a JSON error: HttpError to its status, anything
// unexpected to 500 with its message (and a log line).
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace kiln::server {

enum class BodyMode {
  None,    // the body, if any, is read and ignored (within the limit)
  Json,    // the router reads the whole body (within the limit) before the handler runs
  Stream,  // the handler streams the body itself (blob uploads: no limit)
};

// Error bodies: Ollama's {"error": "..."} or OpenAI's
// {"error": {"message", "type", "param", "code"}}.
enum class ErrorStyle { Ollama, OpenAI };

// One request as a handler sees it.
class Call {
 public:
  Call(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* reader)
      : req(req), res(res), reader_(reader) {}

  const httplib::Request& req;
  httplib::Response& res;

  // The value of a ":name" or "*name" segment of the route's pattern.
  const std::string& param(std::string_view name) const;
  // The body of a Json route.
  const std::string& body() const { return body_; }
  // Stream routes: feeds the body in chunks; false when the receiver stopped
  // or the client went away. An empty body feeds nothing and returns true.
  bool read_body(const std::function<bool(const char*, size_t)>& receiver) const;
  bool has_body() const { return reader_ != nullptr; }

  // Responses. JSON is written compactly with invalid UTF-8 replaced (GGUF
  // metadata and echoed names are not always valid UTF-8).
  void json(int status, const nlohmann::json& body);
  void json(int status, const nlohmann::ordered_json& body);
  void error(int status, const std::string& message);
  ErrorStyle error_style = ErrorStyle::Ollama;

 private:
  friend class Router;
  const httplib::ContentReader* reader_;
  std::vector<std::pair<std::string, std::string>> params_;
  std::string body_;
};

using RouteHandler = std::function<void(Call&)>;

class Router {
 public:
  explicit Router(size_t max_body_bytes) : max_body_(max_body_bytes) {}

  // `pattern` is a path whose segments may be ":name" (one segment) or, last,
  // "*name" (the rest of the path, slashes included).
  void add(std::string method, std::string pattern, BodyMode body, RouteHandler handler,
           ErrorStyle style = ErrorStyle::Ollama);

  // Dispatches one request (reader is null for methods without a body).
  // `log_error` receives a line for every 500.
  void dispatch(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* reader,
                const std::function<void(const std::string&)>& log_error) const;

  size_t max_body_bytes() const { return max_body_; }

  // Called after every dispatched request with its method, the pattern of
  // the route that answered ("" when none matched) and the status: request
  // metrics by route, never by raw path (whose values a client chooses).
  using Observer = std::function<void(const std::string& method, const std::string& route, int status)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    BodyMode body;
    RouteHandler handler;
    ErrorStyle style;
  };
  static bool match(const Route& r, const std::vector<std::string_view>& path,
                    std::vector<std::pair<std::string, std::string>>& params);
  void read_limited_body(Call& call) const;

  std::vector<Route> routes_;
  size_t max_body_;
  Observer observer_;
};

// The JSON error body for a status in a style.
nlohmann::json error_body(ErrorStyle style, int status, const std::string& message);
// dump() with invalid UTF-8 replaced by U+FFFD.
std::string dump_json(const nlohmann::json& j);
std::string dump_json(const nlohmann::ordered_json& j);

inline constexpr const char* kJsonType = "application/json; charset=utf-8";

}  // namespace kiln::server
