#pragma once
// The HTTP side of `kiln pull`: URLs and one streaming GET that follows
// redirects itself. Redirects are not left to cpp-httplib because its
// follow_location decodes the Location URL (breaking the signatures of the
// pre-signed blob URLs registries redirect to) and forwards every header,
// Authorization included, to whatever host the redirect names.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::store {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6 literals
  int port = 0;        // explicit or the scheme's default
  std::string target;  // path and query, as sent on the request line ("/" when empty)

  // Accepts http:// and https:// URLs; throws kiln::Error naming the URL otherwise.
  static Url parse(std::string_view text);
  // The URL a Location header names, relative to this one (absolute URLs,
  // "//host/path", "/path" and "path" forms).
  Url resolve(std::string_view location) const;
  std::string origin() const;  // "https://host[:port]" (port only when not the default)
  std::string str() const { return origin() + target; }
};

// The proxy to reach `url` through, from the environment as curl and Go read
// it: HTTPS_PROXY / https_proxy for https URLs, HTTP_PROXY / http_proxy for
// http ones (a value without a scheme is taken as http://), none for hosts
// NO_PROXY lists ("*", a host, or a domain matching its subdomains, with or
// without a leading dot) and never for loopback hosts. `getenv` is injectable
// for tests. user:password@ in the proxy URL goes in `user` and `password`.
struct Proxy {
  std::string host;
  int port = 0;
  std::string user, password;
};
std::optional<Proxy> proxy_for(const Url& url, const std::function<const char*(const char*)>& getenv);

// Headers to send, in order. Names compare case-insensitively on the wire.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// The final response of a GET (after redirects).
struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased; the last value wins
  Url url;                                     // the URL that answered
  std::string error_body;                      // the body of a non-2xx answer (first 64 KiB)

  std::string header(std::string_view lower_name) const;  // "" when absent
};

struct HttpGet {
  Url url;
  HttpHeaders headers;
  // Called once with the final response's status and headers, before any
  // body bytes, only for 2xx answers. Returning false abandons the request.
  std::function<bool(const HttpResponse&)> on_response;
  // The body of a 2xx answer, chunk by chunk. Returning false abandons it.
  std::function<bool(const char* data, size_t n)> on_data;
  std::stop_token stop;
  int max_redirects = 10;
  int connect_timeout_s = 15;
  int read_timeout_s = 60;
};

// Why a GET produced no complete response.
enum class HttpFailure {
  None,
  Network,    // could not connect, or the connection broke mid-body
  Cancelled,  // stop was requested
  Abandoned,  // a callback returned false
};

struct HttpResult {
  HttpResponse response;        // status 0 when nothing was received
  HttpFailure failure = HttpFailure::None;
  std::string failure_detail;   // "connection to 127.0.0.1:8080 failed (Read)"
};

// Performs the GET. Redirects (301, 302, 303, 307, 308) are followed up to
// max_redirects; Authorization is dropped when a redirect leaves the origin.
// Throws kiln::Error only for a malformed URL or too many redirects; all
// other outcomes are in the result.
HttpResult http_get(const HttpGet& request);

}  // namespace kiln::store
