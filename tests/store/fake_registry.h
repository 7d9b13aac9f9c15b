#pragma once
// A registry speaking the part of Ollama's protocol `kiln pull` uses, served
// in-process by httplib on an ephemeral loopback port, with knobs for the
// failures a real one shows: a connection dropped mid-blob, a blob whose bytes
// do not match its digest, redirects to a storage path with a signed query,
// a bearer-token challenge, malformed manifests. It also acts as a plain
// http forward proxy (absolute-form request targets) for proxy tests. Every request is logged so
// tests can check what the client asked for (Range, If-Range, Authorization).
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/manifest.h"

namespace httplib {
class Server;
}

namespace kiln::store_test {

struct LoggedRequest {
  std::string target;  // path and query as sent
  std::string range;
  std::string if_range;
  std::string authorization;
};

// A certificate and key (PEM files) for serving HTTPS.
struct TlsFiles {
  std::filesystem::path cert, key;
};

class FakeRegistry {
 public:
  // Plain HTTP, or HTTPS with `tls`.
  explicit FakeRegistry(const TlsFiles* tls = nullptr);
  ~FakeRegistry();
  FakeRegistry(const FakeRegistry&) = delete;
  FakeRegistry& operator=(const FakeRegistry&) = delete;

  std::string url() const { return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_); }
  int port() const { return port_; }

  // Stores a blob and returns its layer.
  store::Layer add_blob(std::string media_type, std::string bytes);
  // Publishes <ns>/<model>:<tag> with a model layer holding the GGUF at
  // `gguf`, optional template and params layers, and a config blob made from
  // the GGUF as Ollama's registry has it. Returns the manifest.
  store::Manifest publish(const std::string& ns, const std::string& model, const std::string& tag,
                          const std::filesystem::path& gguf, const std::string& template_text = "",
                          const std::string& params_json = "");
  // Serves `text` as the manifest of <ns>/<model>:<tag> (malformed ones too).
  void set_manifest(const std::string& ns, const std::string& model, const std::string& tag, std::string text);
  // Serves a file at /files/<name> (for URL pulls), with an ETag.
  void add_file(const std::string& name, std::string bytes);

  // Knobs. The next GET of this blob (or file) sends `after` bytes and closes the connection.
  void drop_once(const std::string& blob_key, uint64_t after);
  // This blob is served with one byte changed (its digest no longer matches).
  void corrupt(const store::Digest& digest);
  // Blob GETs answer 307 to <storage_base>/storage/<hex>?<signature> instead
  // of the bytes ("" stops it). The storage side (this or another
  // FakeRegistry holding the same blob) refuses a mangled signature or a
  // request carrying registry credentials.
  void redirect_blobs(const std::string& storage_base);
  // Every /v2/ request needs "Authorization: Bearer <token>", handed out by /token.
  void require_token(std::string token);

  std::vector<LoggedRequest> requests() const;
  // Requests whose target contains `part`.
  std::vector<LoggedRequest> requests_for(const std::string& part) const;
  void clear_log();

  static const char* kSignedQuery;  // what a redirect appends, percent-encoded on purpose

 private:
  struct Blob {
    std::shared_ptr<const std::string> bytes;  // shared with responses in flight
    std::string etag;
  };
  void install_routes();
  void serve_bytes(const std::string& key, const Blob& blob, void* response);
  bool authorized(const void* request, void* response);

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  bool tls_ = false;

  mutable std::mutex mu_;
  std::map<std::string, Blob> blobs_;      // by "sha256:<hex>"
  std::map<std::string, Blob> files_;      // by file name
  std::map<std::string, std::string> manifests_;  // by "<ns>/<model>/<tag>"
  std::map<std::string, uint64_t> drops_;  // blob digest or file name -> bytes before the drop
  std::set<std::string> corrupt_;
  std::string redirect_;
  std::optional<std::string> token_;
  std::vector<LoggedRequest> log_;
};

}  // namespace kiln::store_test
