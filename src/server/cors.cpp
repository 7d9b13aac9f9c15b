#include "server/cors.h"

#include <algorithm>
#include <cctype>

namespace kiln::server {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// gin-contrib/cors's wildcard rule: the part before '*' must be a prefix and
// the part after it a suffix of the origin.
bool wildcard_match(std::string_view pattern, std::string_view origin) {
  const size_t star = pattern.find('*');
  if (star == std::string_view::npos) return pattern == origin;
  const std::string_view head = pattern.substr(0, star), tail = pattern.substr(star + 1);
  return origin.size() >= head.size() + tail.size() && origin.starts_with(head) && origin.ends_with(tail);
}

}  // namespace

CorsPolicy::CorsPolicy(std::string_view extra) {
  while (!extra.empty()) {
    const size_t comma = extra.find(',');
    const std::string_view item = trim(extra.substr(0, comma));
    if (item == "*") allow_all_ = true;
    else if (!item.empty()) origins_.emplace_back(item);
    if (comma == std::string_view::npos) break;
    extra.remove_prefix(comma + 1);
  }
  // Ollama's defaults (envconfig.AllowedOrigins), appended after the user's.
  for (const char* host : {"localhost", "127.0.0.1", "0.0.0.0"})
    for (const char* scheme : {"http://", "https://"}) {
      origins_.push_back(std::string(scheme) + host);
      origins_.push_back(std::string(scheme) + host + ":*");
    }
  for (const char* app : {"app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"})
    origins_.emplace_back(app);
}

bool CorsPolicy::allows(std::string_view origin) const {
  if (allow_all_) return true;
  return std::any_of(origins_.begin(), origins_.end(),
                     [&](const std::string& pattern) { return wildcard_match(pattern, origin); });
}

std::string CorsPolicy::allowed_methods() { return "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS"; }

std::string CorsPolicy::allowed_headers() {
  // Ollama's list: the usual ones plus the headers the OpenAI SDKs send.
  return "Authorization,Content-Type,User-Agent,Accept,X-Requested-With,OpenAI-Beta,x-stainless-arch,"
         "x-stainless-async,x-stainless-custom-poll-interval,x-stainless-helper-method,x-stainless-lang,"
         "x-stainless-os,x-stainless-package-version,x-stainless-poll-helper,x-stainless-retry-count,"
         "x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout";
}

}  // namespace kiln::server
