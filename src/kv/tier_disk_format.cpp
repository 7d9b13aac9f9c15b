#include "kv/tier_disk_format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace kiln::kv::tier {

namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'K', 'V', 'B', '\0'};
constexpr size_t kChecksummedHeaderBytes = kHeaderBytes - 8;

// Little-endian field writer/reader over the fixed header buffer.
struct Cursor {
  uint8_t* p;
  template <typename T>
  void put(const T& v) {
    std::memcpy(p, &v, sizeof v);
    p += sizeof v;
  }
};
struct ConstCursor {
  const uint8_t* p;
  template <typename T>
  T get() {
    T v;
    std::memcpy(&v, p, sizeof v);
    p += sizeof v;
    return v;
  }
};

void encode(const EntryHeader& h, uint8_t (&buf)[kHeaderBytes]) {
  std::memset(buf, 0, sizeof buf);
  Cursor c{buf};
  std::memcpy(c.p, kMagic, sizeof kMagic);
  c.p += sizeof kMagic;
  c.put(kFormatVersion);
  c.put(h.key.group);
  c.put(h.key.hash.lo);
  c.put(h.key.hash.hi);
  c.put(h.parent.lo);
  c.put(h.parent.hi);
  c.put(h.depth);
  c.put(uint32_t(0));  // reserved
  c.put(h.layout_fingerprint);
  c.put(h.payload_bytes);
  c.put(h.payload_checksum);
  // bytes up to kChecksummedHeaderBytes stay zero (reserved)
  const uint64_t header_sum = XXH3_64bits(buf, kChecksummedHeaderBytes);
  std::memcpy(buf + kChecksummedHeaderBytes, &header_sum, sizeof header_sum);
}

bool decode(const uint8_t (&buf)[kHeaderBytes], EntryHeader& h) {
  if (std::memcmp(buf, kMagic, sizeof kMagic) != 0) return false;
  uint64_t stored_sum;
  std::memcpy(&stored_sum, buf + kChecksummedHeaderBytes, sizeof stored_sum);
  if (stored_sum != XXH3_64bits(buf, kChecksummedHeaderBytes)) return false;
  ConstCursor c{buf + sizeof kMagic};
  if (c.get<uint32_t>() != kFormatVersion) return false;
  h.key.group = c.get<uint32_t>();
  h.key.hash.lo = c.get<uint64_t>();
  h.key.hash.hi = c.get<uint64_t>();
  h.parent.lo = c.get<uint64_t>();
  h.parent.hi = c.get<uint64_t>();
  h.depth = c.get<uint32_t>();
  c.get<uint32_t>();
  h.layout_fingerprint = c.get<uint64_t>();
  h.payload_bytes = c.get<uint64_t>();
  h.payload_checksum = c.get<uint64_t>();
  return true;
}

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Reads exactly n bytes at offset; false on a short read or an error.
bool pread_all(int fd, void* dst, size_t n, uint64_t offset) {
  auto* p = static_cast<uint8_t*>(dst);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, off_t(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
    offset += uint64_t(r);
  }
  return true;
}

bool write_all(int fd, const void* src, size_t n) {
  auto* p = static_cast<const uint8_t*>(src);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens file and checks its header; leaves the fd open in `fd` for the caller.
ReadStatus open_checked(const std::filesystem::path& file, uint64_t expected_fingerprint, EntryHeader& out, Fd& fd) {
  fd.fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd.fd < 0) return errno == ENOENT ? ReadStatus::Missing : ReadStatus::Corrupt;
  struct stat st;
  if (::fstat(fd.fd, &st) != 0) return ReadStatus::Corrupt;
  uint8_t buf[kHeaderBytes];
  if (!pread_all(fd.fd, buf, sizeof buf, 0) || !decode(buf, out)) return ReadStatus::Corrupt;
  if (out.layout_fingerprint != expected_fingerprint) return ReadStatus::Corrupt;
  if (uint64_t(st.st_size) != kHeaderBytes + out.payload_bytes) return ReadStatus::Corrupt;
  return ReadStatus::Ok;
}

}  // namespace

uint64_t layout_fingerprint(const CacheConfig& config, int group) {
  const BlockLayout l = make_layout(config, config.groups[size_t(group)]);
  const LayerGroupConfig& g = config.groups[size_t(group)];
  // The q8_0 rows' rotation is part of the encoding (blocks written without
  // it must not be read as rotated); 0 for f16, whose fingerprint is unchanged.
  const uint64_t encoding = uint64_t(config.type) | uint64_t(l.k_rotation) << 16 | uint64_t(l.v_rotation) << 32;
  const uint64_t fields[] = {kFormatVersion,     encoding,              uint64_t(config.block_size),
                             uint64_t(group),    uint64_t(l.n_layers),  uint64_t(l.n_kv_heads),
                             uint64_t(g.k_head_dim), uint64_t(g.v_head_dim), l.k_row_bytes,
                             l.v_row_bytes,      l.k_head_stride,       l.v_head_stride,
                             l.layer_stride,     l.v_offset,            l.block_bytes,
                             uint64_t(g.window)};
  return XXH3_64bits(fields, sizeof fields);
}

std::string entry_file_name(const EntryKey& key) {
  return hex(key.hash.hi) + hex(key.hash.lo) + "-g" + std::to_string(key.group) + ".kvb";
}

bool is_temp_file_name(const std::string& name) { return ends_with(name, ".tmp"); }
bool is_entry_file_name(const std::string& name) { return ends_with(name, ".kvb"); }

uint64_t entry_disk_bytes(uint64_t payload_bytes) {
  constexpr uint64_t kUnit = 4096;
  return (kHeaderBytes + payload_bytes + kUnit - 1) / kUnit * kUnit;
}

void write_entry(const std::filesystem::path& dir, const EntryHeader& header, std::span<const uint8_t> payload,
                 bool fsync_file) {
  const std::string name = entry_file_name(header.key);
  const std::filesystem::path final_path = dir / name;
  const std::filesystem::path temp_path = dir / (name + ".tmp");
  uint8_t buf[kHeaderBytes];
  encode(header, buf);
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw kiln::Error("KV disk tier: cannot create " + temp_path.string() + ": " + std::strerror(errno));
  bool ok = write_all(fd, buf, sizeof buf) && write_all(fd, payload.data(), payload.size());
  if (ok && fsync_file) ok = ::fdatasync(fd) == 0;
  const int saved_errno = errno;
  ok = (::close(fd) == 0) && ok;
  if (ok) ok = ::rename(temp_path.c_str(), final_path.c_str()) == 0;
  if (!ok) {
    ::unlink(temp_path.c_str());
    throw kiln::Error("KV disk tier: cannot write " + final_path.string() + ": " + std::strerror(saved_errno));
  }
}

ReadStatus read_header(const std::filesystem::path& file, uint64_t expected_fingerprint, EntryHeader& out) {
  Fd fd{-1};
  return open_checked(file, expected_fingerprint, out, fd);
}

ReadStatus read_entry(const std::filesystem::path& file, const EntryKey& key, uint64_t expected_fingerprint,
                      std::span<uint8_t> dst) {
  Fd fd{-1};
  EntryHeader h;
  const ReadStatus status = open_checked(file, expected_fingerprint, h, fd);
  if (status != ReadStatus::Ok) return status;
  if (!(h.key == key) || h.payload_bytes != dst.size()) return ReadStatus::Corrupt;
  if (!pread_all(fd.fd, dst.data(), dst.size(), kHeaderBytes)) return ReadStatus::Corrupt;
  if (XXH3_64bits(dst.data(), dst.size()) != h.payload_checksum) return ReadStatus::Corrupt;
  return ReadStatus::Ok;
}

}  // namespace kiln::kv::tier
