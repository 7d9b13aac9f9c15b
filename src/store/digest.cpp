#include "store/digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace kiln::store {
namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

char lower(char c) { return (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c; }

// Shows at most 80 characters of hostile input in messages.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 80)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (s.size() > 80) out += "...";
  return out + "\"";
}

}  // namespace

bool Digest::is_valid(std::string_view text) {
  if (text.size() != 7 + 64 || text.substr(0, 6) != "sha256" || (text[6] != ':' && text[6] != '-'))
    return false;
  for (char c : text.substr(7))
    if (!is_hex(c)) return false;
  return true;
}

Digest Digest::parse(std::string_view text) {
  if (!is_valid(text))
    throw Error("invalid digest " + quoted(text) + ": expected sha256:<64 hex digits>");
  Digest d;
  d.hex_.reserve(64);
  for (char c : text.substr(7)) d.hex_ += lower(c);
  return d;
}

Digest Digest::from_bytes(std::span<const uint8_t, 32> hash) {
  static constexpr char kHex[] = "0123456789abcdef";
  Digest d;
  d.hex_.reserve(64);
  for (uint8_t b : hash) {
    d.hex_ += kHex[b >> 4];
    d.hex_ += kHex[b & 15];
  }
  return d;
}

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1)
    throw Error("sha256: OpenSSL could not initialise a digest context");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t n) {
  if (finished_) throw Error("sha256: update after finish");
  if (n && EVP_DigestUpdate(ctx_->md, data, n) != 1) throw Error("sha256: OpenSSL digest update failed");
}

Digest Sha256::finish() {
  if (finished_) throw Error("sha256: finish called twice");
  finished_ = true;
  uint8_t out[32];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, out, &len) != 1 || len != 32)
    throw Error("sha256: OpenSSL digest final failed");
  return Digest::from_bytes(std::span<const uint8_t, 32>(out, 32));
}

Digest sha256_of(std::span<const uint8_t> bytes) {
  Sha256 h;
  h.update(bytes);
  return h.finish();
}

Digest sha256_of(std::string_view text) {
  Sha256 h;
  h.update(text.data(), text.size());
  return h.finish();
}

Digest sha256_of_file(const std::filesystem::path& path,
                      const std::function<void(uint64_t, uint64_t)>& progress) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open " + path.string() + ": " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  uint64_t total = 0;
  if (off_t end = ::lseek(fd, 0, SEEK_END); end >= 0) total = static_cast<uint64_t>(end);
  ::lseek(fd, 0, SEEK_SET);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  Sha256 h;
  std::vector<uint8_t> buf(4 << 20);  // 4 MiB reads: few syscalls, stays in L2/L3-friendly sizes
  uint64_t done = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot read " + path.string() + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
    if (progress) progress(done, total);
  }
  return h.finish();
}

}  // namespace kiln::store
