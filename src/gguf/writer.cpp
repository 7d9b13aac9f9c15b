// GGUF writer: header in memory, tensor data streamed in bounded chunks, the
// whole file written to a temporary file in the target directory and renamed
// into place, so readers never see a half-written model.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "gguf/gguf.h"

namespace kiln::gguf {
namespace {

constexpr uint64_t kDefaultAlignment = 32;

class HeaderBuffer {
 public:
  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);  // little-endian host
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  void put_raw(std::string_view s) { bytes.insert(bytes.end(), s.begin(), s.end()); }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  void put_value(const Value& v) {
    switch (v.type()) {
      case ValueType::U8: put<uint8_t>(static_cast<uint8_t>(v.as_uint())); break;
      case ValueType::I8: put<int8_t>(static_cast<int8_t>(v.as_int())); break;
      case ValueType::U16: put<uint16_t>(static_cast<uint16_t>(v.as_uint())); break;
      case ValueType::I16: put<int16_t>(static_cast<int16_t>(v.as_int())); break;
      case ValueType::U32: put<uint32_t>(static_cast<uint32_t>(v.as_uint())); break;
      case ValueType::I32: put<int32_t>(static_cast<int32_t>(v.as_int())); break;
      case ValueType::U64: put<uint64_t>(v.as_uint()); break;
      case ValueType::I64: put<int64_t>(v.as_int()); break;
      case ValueType::F32: put<float>(static_cast<float>(v.as_float())); break;
      case ValueType::F64: put<double>(v.as_float()); break;
      case ValueType::BOOL: put<uint8_t>(v.as_bool() ? 1 : 0); break;
      case ValueType::STRING: put_string(v.as_string()); break;
      case ValueType::ARRAY:
        put<uint32_t>(static_cast<uint32_t>(v.elem_type()));
        put<uint64_t>(v.as_array().size());
        for (const Value& item : v.as_array()) put_value(item);
        break;
    }
  }
  void pad_to(uint64_t alignment) {
    while (bytes.size() % alignment) bytes.push_back(0);
  }
  std::vector<uint8_t> bytes;
};

uint64_t align_up(uint64_t n, uint64_t a) { return n + (a - n % a) % a; }

// Bytes of a tensor; throws on a shape the format cannot hold.
uint64_t tensor_bytes(const std::string& name, GgmlType type, const std::vector<int64_t>& shape) {
  const auto tr = type_traits(static_cast<uint32_t>(type));
  if (!tr) throw Error("tensor '" + name + "': unknown ggml type id " + std::to_string(static_cast<uint32_t>(type)));
  if (shape.size() > 4) throw Error("tensor '" + name + "' has " + std::to_string(shape.size()) + " dimensions (at most 4)");
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error("tensor '" + name + "' has negative dimension " + std::to_string(d));
    if (d != 0 && n > INT64_MAX / d) throw Error("tensor '" + name + "' element count overflows int64");
    n *= d;
  }
  const int64_t row = shape.empty() ? 1 : shape[0];
  if (row % tr->block_size != 0)
    throw Error("tensor '" + name + "' row length " + std::to_string(row) + " is not a multiple of the " +
                std::string(tr->name) + " block size " + std::to_string(tr->block_size));
  return static_cast<uint64_t>(n / tr->block_size) * tr->block_bytes;
}

// Largest piece handed to a Fill: whole rows if a row fits in a chunk, else
// whole blocks, so generators never see a block split across calls.
size_t piece_bytes(GgmlType type, const std::vector<int64_t>& shape) {
  const TypeTraits tr = traits(type);
  const int64_t row = shape.empty() ? 1 : shape[0];
  const size_t row_b = static_cast<size_t>(row / tr.block_size) * tr.block_bytes;
  const size_t unit = (row_b > 0 && row_b <= Writer::kChunkBytes) ? row_b : tr.block_bytes;
  return std::max(unit, Writer::kChunkBytes / unit * unit);
}

class OutFile {
 public:
  explicit OutFile(const std::filesystem::path& target) : target_(target) {
    static std::atomic<unsigned> counter{0};
    const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    // Hidden name in the same directory, so rename() stays on one filesystem.
    std::string name(".");
    name += target.filename().string();
    name += ".tmp.";
    name += std::to_string(::getpid());
    name += '.';
    name += std::to_string(counter++);
    temp_ = dir / name;
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error("cannot create " + temp_.string() + ": " + std::strerror(errno));
  }
  ~OutFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;

  void write(const uint8_t* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        throw Error("cannot write " + temp_.string() + ": " + std::strerror(errno));
      }
      p += w;
      n -= static_cast<size_t>(w);
      written_ += static_cast<uint64_t>(w);
    }
  }
  void write_zeros(size_t n) {
    static const uint8_t zeros[256] = {};
    while (n > 0) {
      const size_t k = std::min(n, sizeof zeros);
      write(zeros, k);
      n -= k;
    }
  }
  uint64_t written() const { return written_; }

  void commit() {
    if (::fsync(fd_) != 0) throw Error("cannot sync " + temp_.string() + ": " + std::strerror(errno));
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) throw Error("cannot close " + temp_.string() + ": " + std::strerror(errno));
    if (::rename(temp_.c_str(), target_.c_str()) != 0)
      throw Error("cannot rename " + temp_.string() + " to " + target_.string() + ": " + std::strerror(errno));
    committed_ = true;
    // Persist the rename itself; a failure here leaves a complete file either way.
    const int dir_fd = ::open(temp_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
  }

 private:
  std::filesystem::path target_, temp_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0;
};

}  // namespace

Writer::Writer(uint32_t version) : version_(version) {
  if (version != 2 && version != 3)
    throw Error("cannot write GGUF version " + std::to_string(version) + " (supported: 2, 3)");
}

void Writer::set(std::string key, Value value) {
  if (key.empty()) throw Error("metadata key must not be empty");
  for (auto& [k, v] : kv_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  kv_.emplace_back(std::move(key), std::move(value));
}

void Writer::add_tensor(std::string name, GgmlType type, std::vector<int64_t> shape,
                        std::span<const uint8_t> data) {
  const uint64_t nbytes = tensor_bytes(name, type, shape);
  if (data.size() != nbytes)
    throw Error("tensor '" + name + "' has " + std::to_string(data.size()) + " bytes of data, its shape needs " +
                std::to_string(nbytes));
  auto bytes = std::make_shared<const std::vector<uint8_t>>(data.begin(), data.end());
  add_tensor(std::move(name), type, std::move(shape), Fill{});
  tensors_.back().bytes = std::move(bytes);
}

void Writer::add_tensor(std::string name, GgmlType type, std::vector<int64_t> shape, Fill fill) {
  if (name.empty()) throw Error("tensor name must not be empty");
  for (const auto& t : tensors_)
    if (t.name == name) throw Error("duplicate tensor name '" + name + "'");
  const uint64_t nbytes = tensor_bytes(name, type, shape);
  tensors_.push_back(PendingTensor{std::move(name), type, std::move(shape), nbytes, std::move(fill), nullptr});
}

void Writer::write(const std::filesystem::path& path) const {
  uint64_t alignment = kDefaultAlignment;
  for (const auto& [k, v] : kv_)
    if (k == "general.alignment") {
      if (v.type() != ValueType::U32) throw Error("general.alignment must be a u32");
      alignment = v.as_uint();
      if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        throw Error("general.alignment " + std::to_string(alignment) + " is not a power of two");
    }

  HeaderBuffer h;
  h.bytes.reserve(1 << 16);
  h.put_raw("GGUF");
  h.put<uint32_t>(version_);
  h.put<uint64_t>(tensors_.size());
  h.put<uint64_t>(kv_.size());
  for (const auto& [k, v] : kv_) {
    h.put_string(k);
    h.put<uint32_t>(static_cast<uint32_t>(v.type()));
    h.put_value(v);
  }
  uint64_t offset = 0;  // each tensor starts aligned within the data section
  for (const auto& t : tensors_) {
    h.put_string(t.name);
    h.put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) h.put<uint64_t>(static_cast<uint64_t>(d));
    h.put<uint32_t>(static_cast<uint32_t>(t.type));
    h.put<uint64_t>(offset);
    offset = align_up(offset + t.nbytes, alignment);
  }
  h.pad_to(alignment);

  OutFile out(path);
  out.write(h.bytes.data(), h.bytes.size());
  std::vector<uint8_t> chunk;
  for (const auto& t : tensors_) {
    if (t.bytes) {
      out.write(t.bytes->data(), t.bytes->size());
    } else if (t.nbytes > 0) {
      if (!t.fill) throw Error("tensor '" + t.name + "' has no data source");
      const size_t piece = piece_bytes(t.type, t.shape);
      chunk.resize(std::min<uint64_t>(piece, t.nbytes));
      for (uint64_t done = 0; done < t.nbytes;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(piece, t.nbytes - done));
        t.fill(chunk.data(), n);
        out.write(chunk.data(), n);
        done += n;
      }
    }
    // llama.cpp pads after every tensor, the last one included.
    out.write_zeros(static_cast<size_t>(align_up(t.nbytes, alignment) - t.nbytes));
  }
  out.commit();
}

}  // namespace kiln::gguf
