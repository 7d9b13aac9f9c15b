#include "store/pull_download.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "core/error.h"

namespace kiln::store {
namespace fs = std::filesystem;
namespace {

constexpr size_t kFlushBytes = 1 << 20;

std::string errno_text(int e) { return std::strerror(e); }

// A write error names the file and, for a full disk, says so plainly.
[[noreturn]] void throw_write_error(const fs::path& p, int e) {
  if (e == ENOSPC || e == EDQUOT)
    throw Error("disk full: cannot write " + p.string() + " (" + errno_text(e) +
                "); free some space and pull again, the download resumes where it stopped");
  throw Error("cannot write " + p.string() + ": " + errno_text(e));
}

class PartialFile {
 public:
  explicit PartialFile(const fs::path& p) : path_(p) {
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error("cannot open " + p.string() + ": " + errno_text(errno));
    // Two pulls of the same blob would interleave their appends.
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw Error("another kiln process is downloading " + p.filename().string() + "; wait for it to finish");
    }
  }
  ~PartialFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  uint64_t size() const {
    struct stat st;
    if (::fstat(fd_, &st) != 0) throw Error("cannot stat " + path_.string() + ": " + errno_text(errno));
    return static_cast<uint64_t>(st.st_size);
  }
  void truncate() {
    if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0)
      throw Error("cannot truncate " + path_.string() + ": " + errno_text(errno));
  }
  void seek_end() {
    if (::lseek(fd_, 0, SEEK_END) < 0) throw Error("cannot seek " + path_.string() + ": " + errno_text(errno));
  }
  void append(const uint8_t* data, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, data, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw_write_error(path_, errno);
      }
      data += w;
      n -= static_cast<size_t>(w);
    }
  }
  void sync() {
    if (::fsync(fd_) != 0) throw_write_error(path_, errno);
  }
  // Hashes the bytes already in the file (a resumed download).
  void hash_existing(Sha256& h, uint64_t size) {
    std::vector<uint8_t> buf(4 << 20);
    uint64_t off = 0;
    while (off < size) {
      ssize_t n = ::pread(fd_, buf.data(), std::min<uint64_t>(buf.size(), size - off), static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw Error("cannot read " + path_.string() + ": " + (n < 0 ? errno_text(errno) : "file shrank"));
      h.update(buf.data(), static_cast<size_t>(n));
      off += static_cast<uint64_t>(n);
    }
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

// "bytes 100-199/1000" -> 100; nullopt when malformed.
std::optional<uint64_t> content_range_start(const std::string& v) {
  if (v.rfind("bytes ", 0) != 0) return std::nullopt;
  uint64_t start = 0;
  size_t i = 6;
  if (i >= v.size() || v[i] < '0' || v[i] > '9') return std::nullopt;
  for (; i < v.size() && v[i] >= '0' && v[i] <= '9'; ++i) start = start * 10 + static_cast<uint64_t>(v[i] - '0');
  return i < v.size() && v[i] == '-' ? std::optional<uint64_t>(start) : std::nullopt;
}

std::optional<uint64_t> parse_u64(const std::string& v) {
  if (v.empty() || v.size() > 19) return std::nullopt;
  uint64_t x = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  return x;
}

std::string read_small_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string s;
  if (in) std::getline(in, s);
  return s.size() > 1024 ? std::string() : s;
}

void write_small_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw Error("cannot write " + p.string());
}

void sync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

uint64_t free_disk_bytes(const fs::path& dir) {
  struct statvfs st;
  if (::statvfs(dir.c_str(), &st) != 0) throw Error("cannot check free space in " + dir.string() + ": " + errno_text(errno));
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

DownloadedFile download_to_partial(const HttpGet& base, const fs::path& partial_path,
                                   std::optional<uint64_t> expected_size, const fs::path& validator_file,
                                   const DownloadOptions& options, const DownloadProgress& progress) {
  PartialFile file(partial_path);
  DownloadedFile out;
  std::string validator = validator_file.empty() ? std::string() : read_small_file(validator_file);
  uint64_t size = file.size();
  if (expected_size && size > *expected_size) {
    file.truncate();  // longer than the blob can be: not a prefix of it
    size = 0;
  }
  auto hash = std::make_unique<Sha256>();
  file.hash_existing(*hash, size);
  file.seek_end();
  out.resumed_from = size;
  uint64_t total = expected_size.value_or(0);
  if (progress) progress(size, total);

  std::vector<uint8_t> buffer;
  buffer.reserve(kFlushBytes);
  auto delay = options.retry_delay;
  for (int attempt = 0;; ++attempt) {
    if (expected_size && size == *expected_size) break;  // nothing left to fetch
    HttpGet get = base;
    get.stop = options.stop;
    if (size > 0) {
      get.headers.emplace_back("Range", "bytes=" + std::to_string(size) + "-");
      if (!validator.empty()) get.headers.emplace_back("If-Range", validator);
    }
    std::string problem;  // a failure found inside a callback, thrown after the request unwinds
    buffer.clear();
    auto flush = [&] {
      file.append(buffer.data(), buffer.size());
      buffer.clear();
      if (progress) progress(size, total);
    };
    auto accept_response = [&](const HttpResponse& r) {
      if (r.status == 206) {
        const auto start = content_range_start(r.header("content-range"));
        if (!start || *start != size) {
          problem = base.url.str() + " answered a range request with the wrong range (" + r.header("content-range") + ")";
          return false;
        }
      } else if (size > 0) {
        // The server sent the whole file (no range support, or If-Range saw a change): start over.
        file.truncate();
        size = 0;
        out.resumed_from = 0;
        hash = std::make_unique<Sha256>();
      }
      if (auto len = parse_u64(r.header("content-length"))) {
        const uint64_t announced = size + *len;
        if (expected_size && announced != *expected_size) {
          problem = base.url.str() + " sends " + std::to_string(announced) + " bytes, but the manifest says " +
                    std::to_string(*expected_size);
          return false;
        }
        total = announced;
      }
      if (!validator_file.empty()) {
        // Weak ETags may not be used with If-Range (RFC 9110 13.1.5).
        std::string v = r.header("etag");
        if (v.empty() || v.rfind("W/", 0) == 0) v = r.header("last-modified");
        if (v != validator) {
          validator = v;
          write_small_file(validator_file, v);
        }
      }
      return true;
    };
    get.on_response = [&](const HttpResponse& r) {
      try {
        return accept_response(r);
      } catch (const Error& e) {
        problem = e.what();
        return false;
      }
    };
    get.on_data = [&](const char* data, size_t n) {
      if (expected_size && size + n > *expected_size) {
        problem = base.url.str() + " sent more than the " + std::to_string(*expected_size) + " bytes expected";
        return false;
      }
      try {
        hash->update(data, n);
        buffer.insert(buffer.end(), reinterpret_cast<const uint8_t*>(data), reinterpret_cast<const uint8_t*>(data) + n);
        size += n;
        if (buffer.size() >= kFlushBytes) flush();
      } catch (const Error& e) {
        problem = e.what();
        return false;
      }
      return true;
    };
    const HttpResult r = http_get(get);
    // Bytes received before a failure are a valid prefix: keep them for the resume.
    if (!buffer.empty() && problem.empty()) flush();
    if (!problem.empty()) throw Error(problem);
    if (r.failure == HttpFailure::Cancelled) {
      file.sync();
      throw Error("pull cancelled");
    }
    // Waits before a retry, doubling the delay each time; a stop request ends the wait.
    auto back_off = [&] {
      for (auto waited = std::chrono::milliseconds(0); waited < delay; waited += std::chrono::milliseconds(20)) {
        if (options.stop.stop_requested()) throw Error("pull cancelled");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      delay *= 2;
    };
    if (r.failure == HttpFailure::Network) {
      if (attempt < options.retries) {
        back_off();
        continue;
      }
      file.sync();
      throw Error("network error: " + r.failure_detail + " while downloading " + base.url.str() + " (" +
                  std::to_string(size) + " bytes kept; pull again to resume)");
    }
    const int status = r.response.status;
    if (status == 416 && size > 0 && r.response.header("content-range") == "bytes */" + std::to_string(size)) {
      break;  // the partial file already holds the whole resource
    }
    if (status == 416 && size > 0 && attempt < options.retries) {
      // The partial file is not a prefix the server can continue: start over.
      file.truncate();
      size = 0;
      hash = std::make_unique<Sha256>();
      continue;
    }
    if ((status == 429 || status >= 500) && attempt < options.retries) {
      back_off();  // a busy or failing server: try again later, resuming
      continue;
    }
    if (status < 200 || status >= 300) throw Error(base.url.str() + ": " + registry_error_text(r.response));
    if (expected_size && size != *expected_size)
      throw Error(base.url.str() + " ended after " + std::to_string(size) + " of " + std::to_string(*expected_size) + " bytes");
    if (total && size != total)
      throw Error(base.url.str() + " ended after " + std::to_string(size) + " of " + std::to_string(total) + " bytes");
    break;
  }
  file.sync();
  out.size = size;
  out.digest = hash->finish();
  return out;
}

fs::path partial_blob_path(const BlobStore& blobs, const Digest& digest) {
  return blobs.dir() / (digest.file_name() + "-partial");
}

bool download_blob(BlobStore& blobs, Registry& registry, const Layer& layer, const DownloadOptions& options,
                   const DownloadProgress& progress) {
  if (auto have = blobs.size(layer.digest); have && *have == layer.size) {
    if (progress) progress(layer.size, layer.size);
    return false;
  }
  const fs::path partial = partial_blob_path(blobs, layer.digest);
  HttpGet get;
  get.url = registry.blob_url(layer.digest);
  get.headers = registry.headers();
  const DownloadedFile got = download_to_partial(get, partial, layer.size, {}, options, progress);
  if (got.digest != layer.digest) {
    std::error_code ec;
    fs::remove(partial, ec);
    throw Error("digest mismatch, file must be downloaded again: want " + layer.digest.str() + ", got " +
                got.digest.str() + " (the partial file was deleted)");
  }
  std::error_code ec;
  fs::rename(partial, blobs.path(layer.digest), ec);
  if (ec) throw Error("cannot store blob " + blobs.path(layer.digest).string() + ": " + ec.message());
  sync_dir(blobs.dir());
  return true;
}

}  // namespace kiln::store
