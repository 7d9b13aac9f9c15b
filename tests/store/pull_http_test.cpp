// The HTTP pieces under `kiln pull`: URL parsing and redirect resolution,
// proxy selection from the environment (as curl and Go read it), and a pull
// through a proxy named by HTTP_PROXY.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "../cli/cli_helpers.h"
#include "core/error.h"
#include "fake_registry.h"
#include "store/model_store.h"
#include "store/pull.h"
#include "store/registry_http.h"

namespace kiln::store {
namespace {

TEST(PullHttp, UrlParts) {
  const Url u = Url::parse("HTTPS://Registry.example:8443/v2/x?a=b%2F#frag");
  EXPECT_EQ(u.scheme, "https");
  EXPECT_EQ(u.host, "Registry.example");
  EXPECT_EQ(u.port, 8443);
  EXPECT_EQ(u.target, "/v2/x?a=b%2F");
  EXPECT_EQ(u.str(), "https://Registry.example:8443/v2/x?a=b%2F");
  EXPECT_EQ(Url::parse("http://h").target, "/");
  EXPECT_EQ(Url::parse("http://h?q").target, "/?q");
  EXPECT_EQ(Url::parse("https://h:443/").origin(), "https://h");
  const Url v6 = Url::parse("http://[::1]:8080/p");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.origin(), "http://[::1]:8080");
  for (const char* bad : {"ftp://h/x", "h/x", "http://", "http://h:0/", "http://h:99999/", "http://u:p@h/",
                          "http://h/a b", "http://[::1/"})
    EXPECT_THROW(Url::parse(bad), Error) << bad;
}

TEST(PullHttp, RedirectResolution) {
  const Url base = Url::parse("https://r.example/v2/ns/m/blobs/sha256:ab?x=1");
  EXPECT_EQ(base.resolve("https://cdn.example/o?sig=a%2Fb").str(), "https://cdn.example/o?sig=a%2Fb");
  EXPECT_EQ(base.resolve("//cdn.example/o").str(), "https://cdn.example/o");
  EXPECT_EQ(base.resolve("/storage/ab?s=1").str(), "https://r.example/storage/ab?s=1");
  EXPECT_EQ(base.resolve("other").str(), "https://r.example/v2/ns/m/blobs/other");
}

struct FakeEnv {
  std::map<std::string, std::string> vars;
  std::function<const char*(const char*)> fn() const {
    return [this](const char* n) -> const char* {
      auto it = vars.find(n);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

TEST(PullHttp, ProxyFromEnvironment) {
  FakeEnv env;
  const Url https = Url::parse("https://registry.ollama.ai/v2/library/x/manifests/latest");
  const Url http = Url::parse("http://mirror.corp:5000/v2/");
  EXPECT_FALSE(proxy_for(https, env.fn()));

  env.vars["https_proxy"] = "proxy.corp:3128";
  auto p = proxy_for(https, env.fn());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host, "proxy.corp");
  EXPECT_EQ(p->port, 3128);
  EXPECT_FALSE(proxy_for(http, env.fn()));  // http URLs read HTTP_PROXY

  env.vars["HTTP_PROXY"] = "http://us%40r:p%3Ass@proxy.corp:8080/";
  p = proxy_for(http, env.fn());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->port, 8080);
  EXPECT_EQ(p->user, "us@r");
  EXPECT_EQ(p->password, "p:ss");

  EXPECT_FALSE(proxy_for(Url::parse("http://127.0.0.1:9/"), env.fn()));  // loopback is never proxied
  EXPECT_FALSE(proxy_for(Url::parse("http://localhost/"), env.fn()));

  env.vars["NO_PROXY"] = " .corp , example.org:443";
  EXPECT_FALSE(proxy_for(http, env.fn()));                                         // subdomain of .corp
  EXPECT_TRUE(proxy_for(Url::parse("https://example.org:8443/"), env.fn()));       // other port
  EXPECT_FALSE(proxy_for(Url::parse("https://a.example.org/"), env.fn()));         // 443 matches
  EXPECT_TRUE(proxy_for(Url::parse("https://notexample.org/"), env.fn()));         // not a subdomain
  env.vars["NO_PROXY"] = "*";
  EXPECT_FALSE(proxy_for(https, env.fn()));

  env.vars.erase("NO_PROXY");
  env.vars["https_proxy"] = "socks5://proxy.corp:1080";
  EXPECT_THROW(proxy_for(https, env.fn()), Error);
}

TEST(PullHttp, PullsThroughAnHttpProxy) {
  cli_test::StoreDir d("pull-proxy");
  store_test::FakeRegistry registry;  // also a forward proxy for absolute-form requests
  cli_test::TinyModel model;
  model.write(d.file("tiny.gguf"));
  const auto m = registry.publish("library", "tiny", "latest", d.file("tiny.gguf"));
  ModelStore st(d.store());
  PullOptions o;
  o.registry.base_url = "http://registry.invalid:5000";  // resolvable only by the proxy
  ::setenv("HTTP_PROXY", registry.url().c_str(), 1);
  std::string error;
  try {
    pull_model(st, "tiny", o, {});
  } catch (const Error& e) {
    error = e.what();
  }
  ::unsetenv("HTTP_PROXY");
  EXPECT_EQ(error, "");
  EXPECT_EQ(st.get(ModelName::parse("tiny")).manifest.to_json(), m.to_json());
  EXPECT_EQ(registry.requests_for("http://registry.invalid:5000/v2/library/tiny/manifests/latest").size(), 1u);
}

}  // namespace
}  // namespace kiln::store
