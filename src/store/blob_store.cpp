#include "store/blob_store.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <vector>

#include "core/error.h"

namespace kiln::store {
namespace fs = std::filesystem;
namespace {

std::string errno_text() { return std::strerror(errno); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void close_checked(const fs::path& p) {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw Error("cannot write " + p.string() + ": " + errno_text());
  }

 private:
  int fd_;
};

void write_all(int fd, const uint8_t* data, size_t n, const fs::path& p) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot write " + p.string() + ": " + errno_text());
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
}

// Removes a temporary file unless released (the rename succeeded).
struct TempGuard {
  fs::path path;
  bool active = true;
  ~TempGuard() {
    if (active) {
      std::error_code ec;
      fs::remove(path, ec);
    }
  }
};

// Reads fd from its current position to the end into sha256, and, when
// dst >= 0, writes every chunk to dst as well: the bytes stored are exactly
// the bytes hashed, so the digest always names what is on disk.
Digest hash_stream(int fd, int dst, uint64_t size, const fs::path& src_path, const fs::path& dst_path,
                   const ByteProgress& progress) {
  Sha256 h;
  std::vector<uint8_t> buf(4 << 20);
  uint64_t done = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot read " + src_path.string() + ": " + errno_text());
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
    if (dst >= 0) write_all(dst, buf.data(), static_cast<size_t>(n), dst_path);
    done += static_cast<uint64_t>(n);
    if (progress) progress("copying", done, std::max(done, size));
  }
  if (done != size) throw Error(src_path.string() + " changed size while it was being imported");
  return h.finish();
}

}  // namespace

BlobStore::BlobStore(fs::path models_root) : dir_(std::move(models_root) / "blobs") {}

void BlobStore::ensure_dir() const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error("cannot create " + dir_.string() + ": " + ec.message());
}

bool BlobStore::has(const Digest& d) const { return size(d).has_value(); }

std::optional<uint64_t> BlobStore::size(const Digest& d) const {
  struct stat st;
  if (::stat(path(d).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return static_cast<uint64_t>(st.st_size);
}

fs::path BlobStore::temp_path() const {
  ensure_dir();  // callers create the file right away
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  const uint64_t salt = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return dir_ / (".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
                 std::to_string(salt));
}

StoredBlob BlobStore::put(std::string_view text) {
  return put(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

StoredBlob BlobStore::put(std::span<const uint8_t> bytes) {
  StoredBlob out{sha256_of(bytes), bytes.size(), false};
  if (auto existing = size(out.digest); existing && *existing == bytes.size()) {
    out.existed = true;
    return out;
  }
  ensure_dir();
  TempGuard tmp{temp_path()};
  {
    Fd fd(::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd.get() < 0) throw Error("cannot create " + tmp.path.string() + ": " + errno_text());
    write_all(fd.get(), bytes.data(), bytes.size(), tmp.path);
    if (::fsync(fd.get()) != 0) throw Error("cannot sync " + tmp.path.string() + ": " + errno_text());
    fd.close_checked(tmp.path);
  }
  std::error_code ec;
  fs::rename(tmp.path, path(out.digest), ec);
  if (ec) throw Error("cannot store blob " + path(out.digest).string() + ": " + ec.message());
  tmp.active = false;
  return out;
}

StoredBlob BlobStore::import_file(const fs::path& src, const ByteProgress& progress) {
  Fd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) throw Error("cannot open " + src.string() + ": " + errno_text());
  struct stat st;
  if (::fstat(in.get(), &st) != 0) throw Error("cannot stat " + src.string() + ": " + errno_text());
  if (!S_ISREG(st.st_mode)) throw Error(src.string() + " is not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  ::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);

  ensure_dir();
  TempGuard tmp{temp_path()};
  Fd dst(::open(tmp.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (dst.get() < 0) throw Error("cannot create " + tmp.path.string() + ": " + errno_text());
  Digest digest;
  if (::ioctl(dst.get(), FICLONE, in.get()) == 0) {
    // A reflink shares the source's extents (instant, no extra space) yet,
    // unlike a hard link, later edits of the source cannot change the blob.
    // Hashing the clone itself verifies what the store will serve.
    digest = hash_stream(dst.get(), -1, size, tmp.path, tmp.path, progress);
  } else {
    // One pass: read, hash and write each chunk.
    digest = hash_stream(in.get(), dst.get(), size, src, tmp.path, progress);
  }
  StoredBlob out{digest, size, false};
  if (auto existing = this->size(digest); existing && *existing == size) {
    out.existed = true;  // TempGuard drops the copy; it was never synced, so this is cheap
    return out;
  }
  if (::fsync(dst.get()) != 0) throw Error("cannot sync " + tmp.path.string() + ": " + errno_text());
  dst.close_checked(tmp.path);
  std::error_code ec;
  fs::rename(tmp.path, path(digest), ec);
  if (ec) throw Error("cannot store blob " + path(digest).string() + ": " + ec.message());
  tmp.active = false;
  return out;
}

StoredBlob BlobStore::adopt_file(const fs::path& temp) {
  if (temp.parent_path() != dir_) throw Error("adopt_file: " + temp.string() + " is not inside " + dir_.string());
  TempGuard guard{temp};
  std::error_code ec;
  const uint64_t sz = fs::file_size(temp, ec);
  if (ec) throw Error("cannot stat " + temp.string() + ": " + ec.message());
  StoredBlob out{sha256_of_file(temp), sz, false};
  if (auto existing = size(out.digest); existing && *existing == sz) {
    out.existed = true;
    return out;  // guard removes the duplicate
  }
  fs::rename(temp, path(out.digest), ec);
  if (ec) throw Error("cannot store blob " + path(out.digest).string() + ": " + ec.message());
  guard.active = false;
  return out;
}

std::string BlobStore::read_text(const Digest& d, uint64_t max_bytes) const {
  const fs::path p = path(d);
  auto sz = size(d);
  if (!sz) throw Error("blob " + d.str() + " is missing from the store (" + p.string() + ")");
  if (*sz > max_bytes) throw Error("blob " + d.str() + " is too large to read as text (" + std::to_string(*sz) + " bytes)");
  std::ifstream in(p, std::ios::binary);
  std::string text(static_cast<size_t>(*sz), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(text.size())))
    throw Error("cannot read blob " + p.string());
  return text;
}

void BlobStore::remove(const Digest& d) {
  std::error_code ec;
  fs::remove(path(d), ec);
  if (ec) throw Error("cannot remove blob " + path(d).string() + ": " + ec.message());
}

std::vector<Digest> BlobStore::list() const {
  std::vector<Digest> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (Digest::is_valid(name) && name[6] == '-' && it->is_regular_file(ec)) out.push_back(Digest::parse(name));
  }
  return out;
}

}  // namespace kiln::store
