#include "store/registry_http.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "core/error.h"

namespace kiln::store {
namespace {

constexpr size_t kMaxErrorBody = 64 << 10;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int default_port(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// The host as it appears in a URL: IPv6 literals in brackets.
std::string url_host(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// cpp-httplib 0.11 percent-decodes every response header value, Location
// included, so "?sig=a%2Fb%20c" arrives as "?sig=a/b c". Encoding again what
// cannot stand in a URL as it is (spaces, quotes, controls, non-ASCII, a '%'
// that no longer starts an escape) restores a URL whose query parameters
// decode to the same values, which is what storage services check signatures
// against. Lossy only for an encoded '&', '=', '+' or '#' inside a value.
std::string reencode_location(std::string_view decoded) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < decoded.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(decoded[i]);
    const bool escape_start = c == '%' && i + 2 < decoded.size() && is_hex(decoded[i + 1]) && is_hex(decoded[i + 2]);
    const bool unsafe = c <= 0x20 || c >= 0x7f || std::string_view("\"<>\\^`{|}").find(static_cast<char>(c)) != std::string_view::npos ||
                        (c == '%' && !escape_start);
    if (unsafe) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// httplib's error names, said so that a user knows what to do.
std::string describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::SSLServerVerification:
      return "its TLS certificate is not trusted; SSL_CERT_FILE can name a CA file to trust";
    case httplib::Error::SSLConnection: return "TLS handshake failed";
    case httplib::Error::SSLLoadingCerts: return "cannot load the system's CA certificates";
    case httplib::Error::ConnectionTimeout: return "connection timed out";
    case httplib::Error::Read: return "read failed or timed out";
    default: return httplib::to_string(e);
  }
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0 ||
         (host.size() > 10 && host.compare(host.size() - 10, 10, ".localhost") == 0);
}

std::string percent_decoded(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// NO_PROXY: comma-separated hosts or domains, each optionally ":port".
bool no_proxy_matches(std::string_view list, const Url& url) {
  const std::string host = lower(url.host);
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string entry = lower(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    entry.erase(0, entry.find_first_not_of(" \t"));
    entry.erase(entry.find_last_not_of(" \t") + 1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (const size_t colon = entry.rfind(':'); colon != std::string::npos && entry.find(']') == std::string::npos &&
                                                 entry.find(':') == colon) {
      if (entry.substr(colon + 1) != std::to_string(url.port)) continue;
      entry.resize(colon);
    }
    if (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    if (host == entry) return true;
    if (host.size() > entry.size() && host.compare(host.size() - entry.size(), entry.size(), entry) == 0 &&
        host[host.size() - entry.size() - 1] == '.')
      return true;
  }
  return false;
}

}  // namespace

std::optional<Proxy> proxy_for(const Url& url, const std::function<const char*(const char*)>& getenv) {
  if (is_loopback(lower(url.host))) return std::nullopt;
  auto env = [&](const char* upper, const char* low) -> std::string {
    const char* v = getenv(upper);
    if (!v || !*v) v = getenv(low);
    return v ? std::string(v) : std::string();
  };
  const std::string value = url.scheme == "https" ? env("HTTPS_PROXY", "https_proxy") : env("HTTP_PROXY", "http_proxy");
  if (value.empty()) return std::nullopt;
  if (no_proxy_matches(env("NO_PROXY", "no_proxy"), url)) return std::nullopt;
  std::string text = value.find("://") == std::string::npos ? "http://" + value : value;
  Proxy proxy;
  // Credentials sit between "://" and '@'; Url::parse refuses them, so take them out first.
  const size_t start = text.find("://") + 3;
  const size_t at = text.find('@', start);
  if (at != std::string::npos && at < text.find('/', start)) {
    const std::string cred = text.substr(start, at - start);
    const size_t colon = cred.find(':');
    proxy.user = percent_decoded(cred.substr(0, colon));
    if (colon != std::string::npos) proxy.password = percent_decoded(cred.substr(colon + 1));
    text.erase(start, at - start + 1);
  }
  Url parsed;
  try {
    parsed = Url::parse(text);
  } catch (const Error& e) {
    throw Error(std::string("bad proxy setting (") + (url.scheme == "https" ? "HTTPS_PROXY" : "HTTP_PROXY") +
                "): " + e.what());
  }
  if (parsed.scheme != "http")
    throw Error("bad proxy setting: only http:// proxies are supported (got " + parsed.origin() + ")");
  proxy.host = parsed.host;
  proxy.port = parsed.port;
  return proxy;
}

Url Url::parse(std::string_view text) {
  const std::string shown(text.substr(0, 200));
  Url u;
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) throw Error("invalid URL \"" + shown + "\": no scheme (http:// or https://)");
  u.scheme = lower(text.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https")
    throw Error("invalid URL \"" + shown + "\": unsupported scheme \"" + u.scheme + "\" (http or https)");
  std::string_view rest = text.substr(sep + 3);
  const size_t path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view target = path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
  if (const size_t hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  if (authority.find('@') != std::string_view::npos)
    throw Error("invalid URL \"" + shown + "\": credentials in URLs are not supported");

  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) throw Error("invalid URL \"" + shown + "\": unterminated IPv6 address");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw Error("invalid URL \"" + shown + "\": junk after the IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (u.host.empty()) throw Error("invalid URL \"" + shown + "\": no host");
  for (char c : u.host)
    if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '\\' || static_cast<unsigned char>(c) >= 0x7f)
      throw Error("invalid URL \"" + shown + "\": bad character in the host");
  u.port = default_port(u.scheme);
  if (!port_text.empty()) {
    int port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) throw Error("invalid URL \"" + shown + "\": bad port");
      port = port * 10 + (c - '0');
    }
    if (port == 0 || port > 65535) throw Error("invalid URL \"" + shown + "\": bad port");
    u.port = port;
  }
  if (target.empty() || target.front() == '?') u.target.push_back('/');
  u.target.append(target.data(), target.size());
  for (char c : u.target)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      throw Error("invalid URL \"" + shown + "\": unencoded space or control character in the path");
  return u;
}

Url Url::resolve(std::string_view location) const {
  if (location.find("://") != std::string_view::npos) return parse(location);
  if (location.substr(0, 2) == "//") return parse(scheme + ":" + std::string(location));
  Url out = *this;
  if (!location.empty() && location.front() == '/') {
    out.target = std::string(location);
  } else {
    // Relative to the current path's directory (RFC 3986 merge, without dot segments).
    std::string base = target.substr(0, target.find('?'));
    base = base.substr(0, base.rfind('/') + 1);
    out.target = base + std::string(location);
  }
  return parse(out.origin() + out.target);  // re-validates the characters
}

std::string Url::origin() const {
  std::string s = scheme + "://" + url_host(host);
  if (port != default_port(scheme)) s.append(":").append(std::to_string(port));
  return s;
}

std::string HttpResponse::header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string() : it->second;
}

HttpResult http_get(const HttpGet& request) {
  HttpResult result;
  Url url = request.url;
  HttpHeaders headers = request.headers;
  for (int hop = 0;; ++hop) {
    // Always name the port: httplib's one-string constructor takes it from there.
    httplib::Client client(url.scheme + "://" + url_host(url.host) + ":" + std::to_string(url.port));
    client.set_follow_location(false);
    client.set_url_encode(false);  // targets arrive already encoded (from us or from a Location header)
    client.set_decompress(false);  // blob bytes are hashed exactly as stored
    client.set_keep_alive(false);
    client.set_connection_timeout(request.connect_timeout_s, 0);
    client.set_read_timeout(request.read_timeout_s, 0);
    if (auto proxy = proxy_for(url, [](const char* n) { return std::getenv(n); })) {
      client.set_proxy(proxy->host, proxy->port);
      if (!proxy->user.empty()) client.set_proxy_basic_auth(proxy->user, proxy->password);
    }

    httplib::Headers wire;
    for (const auto& [k, v] : headers) wire.emplace(k, v);
    if (!wire.count("Accept-Encoding")) wire.emplace("Accept-Encoding", "identity");

    HttpResponse response;
    response.url = url;
    bool success = false, abandoned = false, cancelled = false, got_headers = false;
    auto on_headers = [&](const httplib::Response& r) {
      got_headers = true;
      response.status = r.status;
      for (const auto& [k, v] : r.headers) response.headers[lower(k)] = v;
      success = r.status >= 200 && r.status < 300;
      if (request.stop.stop_requested()) return !(cancelled = true);
      if (success && request.on_response && !request.on_response(response)) return !(abandoned = true);
      return true;
    };
    auto on_body = [&](const char* data, size_t n) {
      if (request.stop.stop_requested()) return !(cancelled = true);
      if (!success) {
        if (!is_redirect(response.status) && response.error_body.size() < kMaxErrorBody)
          response.error_body.append(data, std::min(n, kMaxErrorBody - response.error_body.size()));
        return true;
      }
      if (request.on_data && !request.on_data(data, n)) return !(abandoned = true);
      return true;
    };
    httplib::Result r = client.Get(url.target, wire, on_headers, on_body);
    result.response = std::move(response);
    if (cancelled) {
      result.failure = HttpFailure::Cancelled;
      result.failure_detail = "cancelled";
      return result;
    }
    if (abandoned) {
      result.failure = HttpFailure::Abandoned;
      return result;
    }
    if (!r) {
      result.failure = HttpFailure::Network;
      result.failure_detail = std::string(got_headers ? "the connection to " : "cannot connect to ") + url.origin() +
                              (got_headers ? " broke mid-transfer (" : " (") + describe(r.error()) + ")";
      return result;
    }
    const HttpResponse& final_response = result.response;
    if (!is_redirect(final_response.status)) return result;

    const std::string location = final_response.header("location");
    if (location.empty())
      throw Error(url.str() + " answered " + std::to_string(final_response.status) + " without a Location header");
    if (hop >= request.max_redirects) throw Error("too many redirects fetching " + request.url.str());
    Url next = url.resolve(reencode_location(location));
    if (next.origin() != url.origin()) {
      // Credentials meant for the registry must not reach a storage host.
      std::erase_if(headers, [](const auto& h) { return lower(h.first) == "authorization"; });
    }
    if (url.scheme == "https" && next.scheme == "http")
      throw Error(url.str() + " redirected to an insecure URL (" + next.origin() + ")");
    url = std::move(next);
  }
}

}  // namespace kiln::store
