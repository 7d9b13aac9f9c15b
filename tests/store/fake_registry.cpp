#include "fake_registry.h"

#include <httplib.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "gguf/gguf.h"
#include "store/digest.h"
#include "store/model_config.h"
#include "store/model_info.h"

namespace kiln::store_test {

// Shaped like the pre-signed URLs real registries redirect to (S3's
// X-Amz-Credential holds %2F, Hugging Face's CDN a quoted file name).
const char* FakeRegistry::kSignedQuery =
    "?X-Signature=ab%2Fcd%3D%3D&response-content-disposition=attachment%3B%20filename%3D%22x.gguf%22&Expires=42";

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void registry_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  res.status = status;
  res.set_content(R"({"errors":[{"code":")" + code + R"(","message":")" + message + R"("}]})", "application/json");
}

std::string percent_decode(std::string_view s) {
  auto hex = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The query as a storage service reads it to check a signature: split on
// '&', then on the first '=', each side percent-decoded.
std::map<std::string, std::string> query_params(std::string_view target) {
  std::map<std::string, std::string> out;
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    const size_t eq = pair.find('=');
    out[percent_decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
  }
  return out;
}

// A strong ETag: the quoted start of the digest.
std::string etag_of(const store::Digest& d) {
  std::string tag(1, '"');
  tag.append(d.hex(), 0, 16);
  tag.push_back('"');
  return tag;
}

}  // namespace

FakeRegistry::FakeRegistry(const TlsFiles* tls) : tls_(tls != nullptr) {
  if (tls) {
    auto ssl = std::make_unique<httplib::SSLServer>(tls->cert.c_str(), tls->key.c_str());
    if (!ssl->is_valid()) throw std::runtime_error("fake registry: cannot load " + tls->cert.string());
    server_ = std::move(ssl);
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  install_routes();
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("fake registry: cannot bind a loopback port");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() only stops a server whose accept loop runs: wait for it.
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeRegistry::~FakeRegistry() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

store::Layer FakeRegistry::add_blob(std::string media_type, std::string bytes) {
  const store::Digest d = store::sha256_of(bytes);
  store::Layer layer{std::move(media_type), d, bytes.size(), {}};
  std::lock_guard lock(mu_);
  blobs_[d.str()] = Blob{std::make_shared<const std::string>(std::move(bytes)), etag_of(d)};
  return layer;
}

store::Manifest FakeRegistry::publish(const std::string& ns, const std::string& model, const std::string& tag,
                                      const std::filesystem::path& gguf, const std::string& template_text,
                                      const std::string& params_json) {
  store::Manifest m;
  m.layers.push_back(add_blob(std::string(store::media::kModel), read_file(gguf)));
  if (!template_text.empty()) m.layers.push_back(add_blob(std::string(store::media::kTemplate), template_text));
  if (!params_json.empty()) m.layers.push_back(add_blob(std::string(store::media::kParams), params_json));
  std::vector<store::Digest> diff_ids;
  for (const auto& l : m.layers) diff_ids.push_back(l.digest);
  const auto info = store::summarize(gguf::File::open(gguf));
  m.config = add_blob(std::string(store::media::kConfig), store::make_config(info, diff_ids).to_json());
  set_manifest(ns, model, tag, m.to_json());
  return m;
}

void FakeRegistry::set_manifest(const std::string& ns, const std::string& model, const std::string& tag,
                                std::string text) {
  std::lock_guard lock(mu_);
  manifests_[ns + "/" + model + "/" + tag] = std::move(text);
}

void FakeRegistry::add_file(const std::string& name, std::string bytes) {
  const std::string etag = etag_of(store::sha256_of(bytes));
  std::lock_guard lock(mu_);
  files_[name] = Blob{std::make_shared<const std::string>(std::move(bytes)), etag};
}

void FakeRegistry::drop_once(const std::string& blob_key, uint64_t after) {
  std::lock_guard lock(mu_);
  drops_[blob_key] = after;
}

void FakeRegistry::corrupt(const store::Digest& digest) {
  std::lock_guard lock(mu_);
  corrupt_.insert(digest.str());
}

void FakeRegistry::redirect_blobs(const std::string& storage_base) {
  std::lock_guard lock(mu_);
  redirect_ = storage_base;
}

void FakeRegistry::require_token(std::string token) {
  std::lock_guard lock(mu_);
  token_ = std::move(token);
}

std::vector<LoggedRequest> FakeRegistry::requests() const {
  std::lock_guard lock(mu_);
  return log_;
}

std::vector<LoggedRequest> FakeRegistry::requests_for(const std::string& part) const {
  std::vector<LoggedRequest> out;
  for (auto& r : requests())
    if (r.target.find(part) != std::string::npos) out.push_back(r);
  return out;
}

void FakeRegistry::clear_log() {
  std::lock_guard lock(mu_);
  log_.clear();
}

bool FakeRegistry::authorized(const void* request, void* response) {
  const auto& req = *static_cast<const httplib::Request*>(request);
  auto& res = *static_cast<httplib::Response*>(response);
  std::lock_guard lock(mu_);
  if (!token_ || req.get_header_value("Authorization") == "Bearer " + *token_) return true;
  res.set_header("WWW-Authenticate",
                 "Bearer realm=\"" + url() + "/token\",service=\"fake-registry\",scope=\"repository:pull\"");
  registry_error(res, 401, "UNAUTHORIZED", "authentication required");
  return false;
}

// Serves a blob or file through a content provider, so httplib answers Range
// requests (206 + Content-Range) and a drop can cut the body at any byte.
void FakeRegistry::serve_bytes(const std::string& key, const Blob& blob, void* response) {
  auto& res = *static_cast<httplib::Response*>(response);
  std::shared_ptr<const std::string> bytes = blob.bytes;
  std::optional<uint64_t> drop_at;
  {
    std::lock_guard lock(mu_);
    if (corrupt_.count(key)) {
      auto changed = std::make_shared<std::string>(*bytes);
      (*changed)[changed->size() / 2] ^= 0x5a;
      bytes = std::move(changed);
    }
    if (auto it = drops_.find(key); it != drops_.end()) {
      drop_at = it->second;
      drops_.erase(it);
    }
  }
  if (!blob.etag.empty()) res.set_header("ETag", blob.etag);
  res.set_content_provider(bytes->size(), "application/octet-stream",
                           [bytes, drop_at](size_t offset, size_t length, httplib::DataSink& sink) {
                             size_t n = std::min<size_t>(length, 64 << 10);
                             if (drop_at) {
                               if (offset >= *drop_at) return false;  // closes the connection mid-body
                               n = std::min<size_t>(n, *drop_at - offset);
                             }
                             sink.write(bytes->data() + offset, n);
                             return true;
                           });
}

void FakeRegistry::install_routes() {
  auto log = [this](const httplib::Request& req) {
    std::lock_guard lock(mu_);
    log_.push_back({req.target, req.get_header_value("Range"), req.get_header_value("If-Range"),
                    req.get_header_value("Authorization")});
  };

  server_->Get(R"(/v2/([^/]+)/([^/]+)/manifests/([^/]+))", [this, log](const httplib::Request& req,
                                                                      httplib::Response& res) {
    log(req);
    if (!authorized(&req, &res)) return;
    // Registries choose the manifest format by Accept; Ollama asks for Docker's v2.
    if (req.get_header_value("Accept").find("application/vnd.docker.distribution.manifest.v2+json") == std::string::npos)
      return registry_error(res, 400, "MANIFEST_INVALID", "Accept must name the v2 manifest type");
    std::string text;
    {
      std::lock_guard lock(mu_);
      auto it = manifests_.find(req.matches[1].str() + "/" + req.matches[2].str() + "/" + req.matches[3].str());
      if (it == manifests_.end()) return registry_error(res, 404, "MANIFEST_UNKNOWN", "manifest unknown");
      text = it->second;
    }
    res.set_content(text, "application/vnd.docker.distribution.manifest.v2+json");
  });

  server_->Get(R"(/v2/([^/]+)/([^/]+)/blobs/(sha256:[0-9a-f]{64}))", [this, log](const httplib::Request& req,
                                                                                 httplib::Response& res) {
    log(req);
    if (!authorized(&req, &res)) return;
    const std::string digest = req.matches[3].str();
    Blob blob;
    {
      std::lock_guard lock(mu_);
      auto it = blobs_.find(digest);
      if (it == blobs_.end()) return registry_error(res, 404, "BLOB_UNKNOWN", "blob unknown to registry");
      if (!redirect_.empty()) return res.set_redirect(redirect_ + "/storage/" + digest.substr(7) + kSignedQuery, 307);
      blob = it->second;
    }
    serve_bytes(digest, blob, &res);
  });

  server_->Get(R"(/storage/([0-9a-f]{64}))", [this, log](const httplib::Request& req, httplib::Response& res) {
    log(req);
    // A pre-signed URL whose query parameters changed no longer matches its signature.
    if (query_params(req.target) != query_params(kSignedQuery))
      return registry_error(res, 403, "DENIED", "bad signature: " + req.target);
    if (!req.get_header_value("Authorization").empty())
      return registry_error(res, 400, "DENIED", "registry credentials sent to storage");
    const std::string digest = "sha256:" + req.matches[1].str();
    Blob blob;
    {
      std::lock_guard lock(mu_);
      auto it = blobs_.find(digest);
      if (it == blobs_.end()) return registry_error(res, 404, "BLOB_UNKNOWN", "no such object");
      blob = it->second;
    }
    serve_bytes(digest, blob, &res);
  });

  server_->Get(R"(/files/([^/]+))", [this, log](const httplib::Request& req, httplib::Response& res) {
    log(req);
    const std::string name = req.matches[1].str();
    Blob blob;
    {
      std::lock_guard lock(mu_);
      auto it = files_.find(name);
      if (it == files_.end()) {
        res.status = 404;
        return res.set_content("not found", "text/plain");
      }
      blob = it->second;
    }
    serve_bytes(name, blob, &res);
  });

  // A forward proxy for plain http (absolute-form targets): the request is
  // logged with its full URL and answered by this registry as if sent to it.
  server_->Get(R"(http://[^/]+(/.*))", [this, log](const httplib::Request& req, httplib::Response& res) {
    log(req);
    httplib::Client self("127.0.0.1", port_);
    httplib::Headers headers;
    for (const auto& [k, v] : req.headers)
      if (k != "Host" && k != "REMOTE_ADDR" && k != "REMOTE_PORT" && k != "LOCAL_ADDR" && k != "LOCAL_PORT") headers.emplace(k, v);
    auto r = self.Get(req.target.substr(req.target.find('/', 7)), headers);
    if (!r) {
      res.status = 502;
      return;
    }
    res.status = r->status;
    res.set_content(r->body, r->get_header_value("Content-Type"));
  });

  server_->Get("/token", [this, log](const httplib::Request& req, httplib::Response& res) {
    log(req);
    std::lock_guard lock(mu_);
    res.set_content(R"({"token":")" + token_.value_or("") + R"("})", "application/json");
  });
}

}  // namespace kiln::store_test
