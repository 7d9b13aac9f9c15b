#pragma once
// Cross-origin requests, as Ollama answers them (gin-contrib/cors with
// Ollama's configuration): browsers on localhost origins and on app-like
// schemes (app://, file://, tauri://, vscode-webview://) may call the API;
// KILN_ORIGINS (comma-separated, "*" wildcards, as OLLAMA_ORIGINS) adds more.
// A request with an Origin that is not allowed is refused with 403; a
// preflight (OPTIONS with an allowed Origin) is answered 204 with the allowed
// methods and headers.
#include <string>
#include <string_view>
#include <vector>

namespace kiln::server {

class CorsPolicy {
 public:
  // `extra` is KILN_ORIGINS' value (may be empty); the defaults always apply.
  explicit CorsPolicy(std::string_view extra = {});

  bool allows(std::string_view origin) const;
  bool allows_all() const { return allow_all_; }
  const std::vector<std::string>& origins() const { return origins_; }

  // Header values of a preflight answer.
  static std::string allowed_methods();
  static std::string allowed_headers();
  static constexpr const char* kMaxAgeSeconds = "43200";  // 12 hours, gin-contrib's default

 private:
  std::vector<std::string> origins_;  // exact origins and patterns with one '*'
  bool allow_all_ = false;
};

}  // namespace kiln::server
