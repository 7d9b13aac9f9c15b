// `kiln pull` over HTTPS, the way every real registry is reached: the fake
// registry serves TLS with a certificate made here for 127.0.0.1, trusted
// through SSL_CERT_FILE (OpenSSL's default verify paths read it). Without
// that trust the pull must fail on verification, not fall back.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "../cli/cli_helpers.h"
#include "core/error.h"
#include "fake_registry.h"
#include "store/model_store.h"
#include "store/pull.h"

namespace kiln::store_test {
namespace {

namespace fs = std::filesystem;

// A self-signed P-256 certificate for IP 127.0.0.1, valid for a day.
TlsFiles make_loopback_certificate(const fs::path& dir) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) throw std::runtime_error("openssl: cannot make a key");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("kiln test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) throw std::runtime_error("openssl: cannot sign");
  TlsFiles files{dir / "cert.pem", dir / "key.pem"};
  FILE* f = std::fopen(files.cert.c_str(), "wb");
  PEM_write_X509(f, cert.get());
  std::fclose(f);
  f = std::fopen(files.key.c_str(), "wb");
  PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  return files;
}

// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  ScopedEnv(const char* n, const std::string& v) : name(n) { ::setenv(n, v.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

TEST(PullTls, PullsOverHttpsFromATrustedRegistry) {
  cli_test::StoreDir d("pull-tls");
  const TlsFiles tls = make_loopback_certificate(d.dir());
  FakeRegistry registry(&tls);
  cli_test::TinyModel model;
  model.write(d.file("tiny.gguf"));
  const auto m = registry.publish("library", "tiny", "latest", d.file("tiny.gguf"));
  store::ModelStore st(d.store());
  const std::string name = "127.0.0.1:" + std::to_string(registry.port()) + "/library/tiny";
  {
    // No base URL and no --insecure: the name's host over https://.
    ScopedEnv trust("SSL_CERT_FILE", tls.cert.string());
    const auto pulled = store::pull_model(st, name, {}, {});
    EXPECT_EQ(pulled.manifest.to_json(), m.to_json());
  }
  st.remove(store::ModelName::parse(name));
  {
    ScopedEnv no_trust("SSL_CERT_FILE", (d.dir() / "no-such-ca.pem").string());
    try {
      store::pull_model(st, name, {}, {});
      ADD_FAILURE() << "an untrusted certificate was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("pull model manifest: cannot connect to https://127.0.0.1:", 0), 0u)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("certificate is not trusted"), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(st.find(store::ModelName::parse(name)));
}

}  // namespace
}  // namespace kiln::store_test
