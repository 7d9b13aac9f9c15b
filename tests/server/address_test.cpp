// KILN_HOST parsing, the Host-header rule and CORS origin matching.
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/error.h"
#include "server/cors.h"
#include "server/listen_address.h"

using namespace kiln::server;

TEST(ListenAddress, FormsOllamaAccepts) {
  auto a = parse_listen_address("");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 11434);
  EXPECT_EQ(a.url(), "http://127.0.0.1:11434");
  EXPECT_TRUE(a.is_loopback());

  a = parse_listen_address("0.0.0.0");
  EXPECT_EQ(a.host, "0.0.0.0");
  EXPECT_EQ(a.port, 11434);
  EXPECT_FALSE(a.is_loopback());

  a = parse_listen_address("  localhost:8080 ");
  EXPECT_EQ(a.host, "localhost");
  EXPECT_EQ(a.port, 8080);
  EXPECT_TRUE(a.is_loopback());

  a = parse_listen_address(":9000");  // kiln keeps an empty host on loopback
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9000);

  a = parse_listen_address("http://10.1.2.3:7000/some/path");
  EXPECT_EQ(a.host, "10.1.2.3");
  EXPECT_EQ(a.port, 7000);

  EXPECT_EQ(parse_listen_address("http://example.com").port, 80);
  EXPECT_EQ(parse_listen_address("https://example.com").port, 443);

  a = parse_listen_address("[::1]:5000");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 5000);
  EXPECT_EQ(a.url(), "http://[::1]:5000");
  EXPECT_TRUE(a.is_loopback());
  a = parse_listen_address("::1");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 11434);
}

TEST(ListenAddress, RejectsBadPortsAndSchemes) {
  EXPECT_THROW(parse_listen_address("localhost:99999"), kiln::Error);
  EXPECT_THROW(parse_listen_address("localhost:http"), kiln::Error);
  EXPECT_THROW(parse_listen_address("localhost:-1"), kiln::Error);
  EXPECT_THROW(parse_listen_address("ftp://localhost:21"), kiln::Error);
}

TEST(HostHeader, OnlyNamesOfThisMachine) {
  for (const char* ok : {"", "localhost", "localhost:11434", "127.0.0.1:11434", "[::1]:11434", "::1", "10.0.0.5",
                         "192.168.1.20:80", "172.16.0.1", "0.0.0.0:11434", "LOCALHOST", "box.local",
                         "svc.internal:8080", "app.localhost"})
    EXPECT_TRUE(host_header_allowed(ok)) << ok;
  for (const char* bad : {"evil.com", "evil.com:11434", "8.8.8.8", "172.32.0.1", "localhost.evil.com", "local",
                          "[2001:db8::1]:80"})
    EXPECT_FALSE(host_header_allowed(bad)) << bad;
  char name[256] = {};
  ASSERT_EQ(::gethostname(name, sizeof name - 1), 0);
  EXPECT_TRUE(host_header_allowed(name));
}

TEST(Cors, DefaultOriginsAndExtras) {
  const CorsPolicy def;
  for (const char* ok : {"http://localhost", "http://localhost:3000", "https://127.0.0.1:8443", "http://0.0.0.0",
                         "app://obsidian.md", "file://", "tauri://localhost", "vscode-webview://abc"})
    EXPECT_TRUE(def.allows(ok)) << ok;
  for (const char* bad : {"http://evil.com", "http://localhost.evil.com", "https://localhostx", "chrome-extension://x"})
    EXPECT_FALSE(def.allows(bad)) << bad;

  const CorsPolicy extra(" https://app.example.com , chrome-extension://*");
  EXPECT_TRUE(extra.allows("https://app.example.com"));
  EXPECT_TRUE(extra.allows("chrome-extension://abcdef"));
  EXPECT_TRUE(extra.allows("http://localhost:1"));
  EXPECT_FALSE(extra.allows("https://other.example.com"));
  EXPECT_FALSE(extra.allows_all());

  const CorsPolicy any("*");
  EXPECT_TRUE(any.allows_all());
  EXPECT_TRUE(any.allows("https://anything.example"));
}
