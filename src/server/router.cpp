#include "server/router.h"

#include <exception>

#include "server/http_error.h"

namespace kiln::server {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.starts_with('/')) path.remove_prefix(1);
  while (true) {
    const size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// Bytes of an oversized body read (and dropped) before giving up on it: enough
// that a client which sends its whole body before reading the answer gets the
// 413 rather than a reset connection, without reading forever.
constexpr size_t kDrainBytes = size_t{64} << 20;

}  // namespace

const std::string& Call::param(std::string_view name) const {
  for (const auto& [k, v] : params_)
    if (k == name) return v;
  throw std::logic_error("route has no parameter " + std::string(name));
}

bool Call::read_body(const std::function<bool(const char*, size_t)>& receiver) const {
  if (!reader_) return true;
  return (*reader_)([&](const char* data, size_t n) { return receiver(data, n); });
}

std::string dump_json(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }
std::string dump_json(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void Call::json(int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(dump_json(body), kJsonType);
}

void Call::json(int status, const nlohmann::ordered_json& body) {
  res.status = status;
  res.set_content(dump_json(body), kJsonType);
}

nlohmann::json error_body(ErrorStyle style, int status, const std::string& message) {
  if (style == ErrorStyle::Ollama) return {{"error", message}};
  // Ollama's openai.NewError: the type follows the status.
  const char* type = status == 400 ? "invalid_request_error" : status == 404 ? "not_found_error" : "api_error";
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}};
}

void Call::error(int status, const std::string& message) { json(status, error_body(error_style, status, message)); }

void Router::add(std::string method, std::string pattern, BodyMode body, RouteHandler handler, ErrorStyle style) {
  Route r{std::move(method), pattern, {}, body, std::move(handler), style};
  for (auto seg : split_path(pattern)) r.segments.emplace_back(seg);
  routes_.push_back(std::move(r));
}

bool Router::match(const Route& r, const std::vector<std::string_view>& path,
                   std::vector<std::pair<std::string, std::string>>& params) {
  params.clear();
  for (size_t i = 0; i < r.segments.size(); ++i) {
    const std::string& seg = r.segments[i];
    if (!seg.empty() && seg[0] == '*') {
      if (i >= path.size()) return false;
      std::string rest;
      for (size_t k = i; k < path.size(); ++k) rest += (k > i ? "/" : "") + std::string(path[k]);
      if (rest.empty()) return false;
      params.emplace_back(seg.substr(1), std::move(rest));
      return true;
    }
    if (i >= path.size()) return false;
    if (!seg.empty() && seg[0] == ':') {
      if (path[i].empty()) return false;
      params.emplace_back(seg.substr(1), std::string(path[i]));
    } else if (seg != path[i]) {
      return false;
    }
  }
  return r.segments.size() == path.size();
}

void Router::read_limited_body(Call& call) const {
  if (!call.reader_) return;
  // A declared length far past the limit is refused without reading it; the
  // connection is closed so the unread bytes are never parsed as a request.
  const std::string declared = call.req.get_header_value("Content-Length");
  if (!declared.empty()) {
    const unsigned long long n = std::strtoull(declared.c_str(), nullptr, 10);
    if (n > max_body_ + kDrainBytes) {
      call.res.set_header("Connection", "close");
      throw HttpError(413, "request body too large: " + declared + " bytes, the limit is " +
                               std::to_string(max_body_) + " bytes");
    }
  }
  size_t dropped = 0;
  bool over = false;
  call.read_body([&](const char* data, size_t n) {
    if (!over && call.body_.size() + n <= max_body_) {
      call.body_.append(data, n);
      return true;
    }
    over = true;
    dropped += n;
    return dropped < kDrainBytes;
  });
  if (over) {
    call.res.set_header("Connection", "close");
    throw HttpError(413, "request body too large: the limit is " + std::to_string(max_body_) + " bytes");
  }
}

void Router::dispatch(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* reader,
                      const std::function<void(const std::string&)>& log_error) const {
  Call call(req, res, reader);
  const auto path = split_path(req.path);
  const Route* found = nullptr;
  std::string allow;
  std::vector<std::pair<std::string, std::string>> params;
  for (const auto& r : routes_) {
    if (!match(r, path, params)) continue;
    if (r.method == req.method) {
      found = &r;
      call.params_ = params;
      break;
    }
    if (allow.find(r.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + r.method;
  }
  if (found) call.error_style = found->style;
  try {
    if (!found) {
      read_limited_body(call);  // an unread body would be parsed as the next request
      if (!allow.empty()) {
        res.set_header("Allow", allow);
        throw HttpError(405, "405 method not allowed");
      }
      throw HttpError(404, "404 page not found");
    }
    if (found->body != BodyMode::Stream) read_limited_body(call);
    found->handler(call);
  } catch (const HttpError& e) {
    call.error(e.status(), e.what());
  } catch (const std::exception& e) {
    if (log_error) log_error(std::string("error: ") + req.method + " " + req.path + ": " + e.what());
    call.error(500, e.what());
  } catch (...) {
    if (log_error) log_error(std::string("error: ") + req.method + " " + req.path + ": unknown exception");
    call.error(500, "internal error");
  }
  if (observer_) observer_(req.method, found ? found->pattern : std::string(), res.status);
}

}  // namespace kiln::server
