#pragma once
// Where `kiln serve` listens (KILN_HOST, read as Ollama reads OLLAMA_HOST) and
// which Host headers it answers while it listens on loopback.
#include <string>
#include <string_view>

namespace kiln::server {

inline constexpr int kDefaultPort = 11434;

struct ListenAddress {
  std::string scheme = "http";
  std::string host = "127.0.0.1";  // a name or an IP literal, without brackets
  int port = kDefaultPort;

  // "http://127.0.0.1:11434", with brackets around an IPv6 literal.
  std::string url() const;
  bool is_loopback() const;
};

// Accepts "", "host", "host:port", ":port", "[v6]:port", "http://host:port"
// (and a trailing path, ignored). An empty text gives 127.0.0.1:11434; an
// empty host gives 127.0.0.1 (Ollama binds every interface for ":port"; kiln
// stays on loopback unless an address is named). "http://host" without a port
// means port 80 and "https://host" 443, as in Ollama. Throws kiln::Error
// naming the text when the port is not a number in 0..65535 or the scheme is
// not http(s).
ListenAddress parse_listen_address(std::string_view text);

// "localhost", 127.0.0.0/8 and ::1.
bool is_loopback_host(std::string_view host);

// DNS-rebinding protection (Ollama's allowedHostsMiddleware): while the
// server listens on loopback, a request's Host header must name this machine:
// empty, "localhost", a loopback, private or unspecified IP, the machine's
// hostname, or a name under .localhost, .local or .internal. `host_header`
// may carry a port.
bool host_header_allowed(std::string_view host_header);

}  // namespace kiln::server
