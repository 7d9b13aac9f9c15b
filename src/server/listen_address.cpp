#include "server/listen_address.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>

#include "core/error.h"

namespace kiln::server {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Go's net.SplitHostPort for the forms KILN_HOST takes: "[v6]:p", "h:p", ":p".
bool split_host_port(std::string_view hp, std::string& host, std::string& port) {
  if (!hp.empty() && hp.front() == '[') {
    const size_t close = hp.find(']');
    if (close == std::string_view::npos || close + 1 >= hp.size() || hp[close + 1] != ':') return false;
    host = std::string(hp.substr(1, close - 1));
    port = std::string(hp.substr(close + 2));
    return true;
  }
  const size_t colon = hp.find(':');
  if (colon == std::string_view::npos || hp.find(':', colon + 1) != std::string_view::npos) return false;
  host = std::string(hp.substr(0, colon));
  port = std::string(hp.substr(colon + 1));
  return true;
}

struct Ip {
  bool v6 = false;
  std::array<uint8_t, 16> b{};
};

bool parse_ip(std::string_view text, Ip& ip) {
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), ip.b.data()) == 1) return true;
  if (inet_pton(AF_INET6, s.c_str(), ip.b.data()) == 1) {
    ip.v6 = true;
    // An IPv4-mapped address (::ffff:a.b.c.d) is judged as the IPv4 address.
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(ip.b.data(), mapped, 12) == 0) {
      std::memmove(ip.b.data(), ip.b.data() + 12, 4);
      ip.v6 = false;
    }
    return true;
  }
  return false;
}

bool is_loopback(const Ip& ip) {
  if (!ip.v6) return ip.b[0] == 127;
  static const uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(ip.b.data(), one, 16) == 0;
}

bool is_private(const Ip& ip) {
  if (!ip.v6) return ip.b[0] == 10 || (ip.b[0] == 172 && (ip.b[1] & 0xf0) == 16) || (ip.b[0] == 192 && ip.b[1] == 168);
  return (ip.b[0] & 0xfe) == 0xfc;  // fc00::/7
}

bool is_unspecified(const Ip& ip) {
  const size_t n = ip.v6 ? 16 : 4;
  return std::all_of(ip.b.begin(), ip.b.begin() + n, [](uint8_t x) { return x == 0; });
}

}  // namespace

std::string ListenAddress::url() const {
  const bool v6 = host.find(':') != std::string::npos;
  return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool ListenAddress::is_loopback() const { return is_loopback_host(host); }

ListenAddress parse_listen_address(std::string_view text) {
  ListenAddress a;
  std::string_view s = trim(text);
  if (s.empty()) return a;
  int default_port = kDefaultPort;
  if (const size_t sep = s.find("://"); sep != std::string_view::npos) {
    a.scheme = lower(s.substr(0, sep));
    if (a.scheme == "http") default_port = 80;
    else if (a.scheme == "https") default_port = 443;
    else throw Error("KILN_HOST '" + std::string(text) + "': the scheme must be http or https");
    s = s.substr(sep + 3);
  }
  s = s.substr(0, s.find('/'));  // a path is meaningless for a listen address

  std::string host, port;
  if (!split_host_port(s, host, port)) {
    host = std::string(s);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    port.clear();
  }
  if (!host.empty()) a.host = host;
  a.port = default_port;
  if (!port.empty()) {
    int p = -1;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p < 0 || p > 65535)
      throw Error("KILN_HOST '" + std::string(text) + "': invalid port '" + port + "'");
    a.port = p;
  }
  return a;
}

bool is_loopback_host(std::string_view host) {
  if (lower(host) == "localhost") return true;
  Ip ip;
  return parse_ip(host, ip) && is_loopback(ip);
}

bool host_header_allowed(std::string_view header) {
  std::string host, port;
  if (!split_host_port(header, host, port)) {
    host = std::string(header);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  }
  Ip ip;
  if (parse_ip(host, ip)) return is_loopback(ip) || is_private(ip) || is_unspecified(ip);
  host = lower(host);
  if (host.empty() || host == "localhost") return true;
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0 && host == lower(name)) return true;
  for (const char* tld : {".localhost", ".local", ".internal"})
    if (host.size() > std::strlen(tld) && host.ends_with(tld)) return true;
  return false;
}

}  // namespace kiln::server
