#include "store/registry.h"

#include <cctype>
#include <cstdlib>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace kiln::store {
namespace {

constexpr size_t kMaxManifestBytes = 4 << 20;
constexpr size_t kMaxTokenBytes = 64 << 10;

std::string status_line(int status) {
  switch (status) {
    case 400: return "400 Bad Request";
    case 401: return "401 Unauthorized";
    case 403: return "403 Forbidden";
    case 404: return "404 Not Found";
    case 429: return "429 Too Many Requests";
    case 500: return "500 Internal Server Error";
    case 502: return "502 Bad Gateway";
    case 503: return "503 Service Unavailable";
    default: return std::to_string(status);
  }
}

// Percent-encodes a query value (RFC 3986 unreserved characters stay).
std::string query_escape(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"
std::map<std::string, std::string> parse_challenge(std::string_view header) {
  std::map<std::string, std::string> out;
  if (header.substr(0, 7) != "Bearer " && header.substr(0, 7) != "bearer ") return out;
  std::string_view rest = header.substr(7);
  while (!rest.empty()) {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == ',')) rest.remove_prefix(1);
    const size_t eq = rest.find('=');
    if (eq == std::string_view::npos) break;
    std::string key(rest.substr(0, eq));
    rest.remove_prefix(eq + 1);
    std::string value;
    if (!rest.empty() && rest.front() == '"') {
      const size_t close = rest.find('"', 1);
      if (close == std::string_view::npos) break;
      value = std::string(rest.substr(1, close - 1));
      rest.remove_prefix(close + 1);
    } else {
      const size_t comma = rest.find(',');
      value = std::string(rest.substr(0, comma));
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma);
    }
    out[key] = value;
  }
  return out;
}

}  // namespace

std::string registry_from_env() {
  const char* v = std::getenv("KILN_REGISTRY");
  return v ? std::string(v) : std::string();
}

std::string registry_error_text(const HttpResponse& response) {
  const auto j = nlohmann::json::parse(response.error_body, nullptr, false);
  if (j.is_object()) {
    if (auto errors = j.find("errors"); errors != j.end() && errors->is_array() && !errors->empty()) {
      const auto& first = (*errors)[0];
      if (first.is_object() && first.contains("message") && first["message"].is_string())
        return status_line(response.status) + ": " + first["message"].get<std::string>();
    }
    if (auto e = j.find("error"); e != j.end() && e->is_string()) return status_line(response.status) + ": " + e->get<std::string>();
  }
  return status_line(response.status);
}

Registry::Registry(const ModelName& name, const RegistryOptions& options) : name_(name) {
  if (!options.base_url.empty()) {
    base_ = Url::parse(options.base_url);
  } else {
    base_ = Url::parse((options.insecure ? "http://" : "https://") + name.host());
  }
  // The base may carry a path prefix (a mirror under /ollama/); v2 paths go below it.
  const std::string prefix = base_.target.substr(0, base_.target.find('?'));
  base_.target = prefix.empty() || prefix.back() != '/' ? prefix : prefix.substr(0, prefix.size() - 1);
}

Url Registry::manifest_url() const {
  Url u = base_;
  u.target += "/v2/" + name_.ns() + "/" + name_.model() + "/manifests/" + name_.tag();
  return u;
}

Url Registry::blob_url(const Digest& digest) const {
  Url u = base_;
  u.target += "/v2/" + name_.ns() + "/" + name_.model() + "/blobs/" + digest.str();
  return u;
}

HttpHeaders Registry::headers() const {
  HttpHeaders h = {{"User-Agent", "kiln/0.1.0"}};
  if (token_) h.emplace_back("Authorization", "Bearer " + *token_);
  return h;
}

bool Registry::authenticate(const HttpResponse& unauthorized, std::stop_token stop) {
  if (token_) return false;  // a token we already had was refused
  auto challenge = parse_challenge(unauthorized.header("www-authenticate"));
  auto realm = challenge.find("realm");
  if (realm == challenge.end()) return false;
  HttpGet get;
  get.url = base_.resolve(realm->second);
  std::string query;
  for (const char* key : {"service", "scope"})
    if (auto it = challenge.find(key); it != challenge.end())
      query.append(query.empty() ? "?" : "&").append(key).append("=").append(query_escape(it->second));
  get.url.target += query;
  get.headers = headers();
  get.stop = stop;
  std::string body;
  get.on_data = [&](const char* d, size_t n) {
    body.append(d, n);
    return body.size() <= kMaxTokenBytes;
  };
  const HttpResult r = http_get(get);
  if (r.failure != HttpFailure::None || r.response.status != 200) return false;
  const auto j = nlohmann::json::parse(body, nullptr, false);
  for (const char* key : {"token", "access_token"})
    if (j.is_object() && j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty()) {
      token_ = j[key].get<std::string>();
      return true;
    }
  return false;
}

Manifest Registry::fetch_manifest(std::stop_token stop) {
  const std::string prefix = "pull model manifest: ";
  for (int attempt = 0;; ++attempt) {
    HttpGet get;
    get.url = manifest_url();
    get.headers = headers();
    get.headers.emplace_back("Accept", "application/vnd.docker.distribution.manifest.v2+json");
    get.stop = stop;
    std::string body;
    bool too_large = false;
    get.on_data = [&](const char* d, size_t n) {
      body.append(d, n);
      return !(too_large = body.size() > kMaxManifestBytes);
    };
    const HttpResult r = http_get(get);
    if (r.failure == HttpFailure::Cancelled) throw Error("pull cancelled");
    if (too_large) throw Error(prefix + "the manifest from " + get.url.str() + " is larger than 4 MiB");
    if (r.failure != HttpFailure::None) throw Error(prefix + r.failure_detail);
    const int status = r.response.status;
    if (status == 401 && attempt == 0 && authenticate(r.response, stop)) continue;
    if (status == 404) throw Error(prefix + "file does not exist");
    if (status != 200) throw Error(prefix + get.url.str() + ": " + registry_error_text(r.response));
    try {
      return Manifest::parse(body, "from " + get.url.origin() + " for " + name_.display());
    } catch (const Error& e) {
      throw Error(prefix + e.what());
    }
  }
}

}  // namespace kiln::store
