// Blob uploads: how clients send a GGUF file before /api/create names it.
// HEAD answers whether a blob is stored; POST streams the body into a
// temporary file in blobs/ while hashing it, and stores it under its digest
// only when the digest matches the URL (400 otherwise): nothing unverified
// is ever visible in the store, and the body is never held in memory.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "server/http_error.h"
#include "server/routes.h"
#include "store/digest.h"

namespace kiln::server {
namespace {

namespace fs = std::filesystem;

store::Digest parse_digest(const std::string& text) {
  if (!store::Digest::is_valid(text)) throw bad_request("invalid digest format");
  return store::Digest::parse(text);
}

// Removes the temporary file unless it was renamed into place.
struct TempFile {
  fs::path path;
  int fd = -1;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!path.empty()) {
      std::error_code ec;
      fs::remove(path, ec);
    }
  }
};

void upload_blob(ApiState& state, Call& c) {
  const std::string& text = c.param("digest");
  const store::Digest expected = parse_digest(text);
  store::BlobStore& blobs = state.store.blobs();
  if (blobs.has(expected)) {
    // Already stored: Ollama answers 200 without reading the body.
    c.res.set_header("Connection", "close");
    c.res.status = 200;
    return;
  }

  TempFile tmp{blobs.temp_path()};
  tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (tmp.fd < 0) throw Error("cannot create " + tmp.path.string() + ": " + std::strerror(errno));
  store::Sha256 hash;
  std::string write_error;
  const bool complete = c.read_body([&](const char* data, size_t n) {
    hash.update(data, n);
    while (n > 0) {
      const ssize_t w = ::write(tmp.fd, data, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        write_error = std::strerror(errno);
        return false;
      }
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  });
  if (!write_error.empty()) throw Error("cannot write " + tmp.path.string() + ": " + write_error);
  if (!complete) throw bad_request("the upload of " + text + " was cut short");
  const store::Digest got = hash.finish();
  if (got != expected)
    throw bad_request("digest mismatch, expected \"" + text + "\", got \"" + got.str() + "\"");
  if (::fsync(tmp.fd) != 0) throw Error("cannot sync " + tmp.path.string() + ": " + std::strerror(errno));
  ::close(tmp.fd);
  tmp.fd = -1;
  {
    std::lock_guard lock(state.write_mutex);
    std::error_code ec;
    fs::rename(tmp.path, blobs.path(expected), ec);
    if (ec) throw Error("cannot store blob " + expected.str() + ": " + ec.message());
  }
  tmp.path.clear();
  c.res.status = 201;
}

}  // namespace

void add_blob_routes(Router& r, ApiState& state) {
  r.add("HEAD", "/api/blobs/:digest", BodyMode::None, [&state](Call& c) {
    const store::Digest d = parse_digest(c.param("digest"));
    if (!state.store.blobs().has(d)) throw not_found("blob \"" + c.param("digest") + "\" not found");
    c.res.status = 200;
  });
  r.add("POST", "/api/blobs/:digest", BodyMode::Stream, [&state](Call& c) { upload_blob(state, c); });
}

}  // namespace kiln::server
