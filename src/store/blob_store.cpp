#include "store/blob_store.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>

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

// Copies src into the open dst: reflink first (instant, shares extents, and
// unlike a hard link later edits of the source cannot change the blob), then
// copy_file_range (in-kernel, no user-space buffer), then read/write.
void clone_or_copy(int src, int dst, uint64_t size, const fs::path& dst_path, const ByteProgress& progress) {
  if (::ioctl(dst, FICLONE, src) == 0) {
    if (progress) progress("copying", size, size);
    return;
  }
  uint64_t done = 0;
  bool use_range = true;
  std::vector<uint8_t> buf;
  while (done < size) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(size - done, 64 << 20));
    ssize_t n = -1;
    if (use_range) {
      loff_t in_off = static_cast<loff_t>(done), out_off = static_cast<loff_t>(done);
      n = ::copy_file_range(src, &in_off, dst, &out_off, chunk, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        use_range = false;
        continue;
      }
    } else {
      if (buf.empty()) buf.resize(4 << 20);
      n = ::pread(src, buf.data(), std::min(chunk, buf.size()), static_cast<off_t>(done));
      if (n > 0) {
        ssize_t left = n;
        const uint8_t* p = buf.data();
        while (left > 0) {
          ssize_t w = ::pwrite(dst, p, static_cast<size_t>(left), static_cast<off_t>(done + (p - buf.data())));
          if (w < 0) {
            if (errno == EINTR) continue;
            throw Error("cannot write " + dst_path.string() + ": " + errno_text());
          }
          p += w;
          left -= w;
        }
      }
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot copy into " + dst_path.string() + ": " + errno_text());
    }
    if (n == 0) throw Error("source file shrank while it was being copied into " + dst_path.string());
    done += static_cast<uint64_t>(n);
    if (progress) progress("copying", done, size);
  }
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

  auto hash_progress = [&](uint64_t done, uint64_t total) {
    if (progress) progress("hashing", done, total);
  };
  StoredBlob out{sha256_of_file(src, hash_progress), size, false};
  if (auto existing = this->size(out.digest); existing && *existing == size) {
    out.existed = true;
    if (progress) progress("copying", size, size);
    return out;
  }

  ensure_dir();
  TempGuard tmp{temp_path()};
  {
    Fd dst(::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (dst.get() < 0) throw Error("cannot create " + tmp.path.string() + ": " + errno_text());
    clone_or_copy(in.get(), dst.get(), size, tmp.path, progress);
    if (::fsync(dst.get()) != 0) throw Error("cannot sync " + tmp.path.string() + ": " + errno_text());
    dst.close_checked(tmp.path);
  }
  // The copy is what the store will serve: verify it, not the source (which
  // may have changed between the hash and the copy).
  const Digest written = sha256_of_file(tmp.path);
  if (written != out.digest)
    throw Error("copy of " + src.string() + " does not match its digest (was the file modified while importing?)");
  std::error_code ec;
  fs::rename(tmp.path, path(out.digest), ec);
  if (ec) throw Error("cannot store blob " + path(out.digest).string() + ": " + ec.message());
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
