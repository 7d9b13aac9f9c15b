// GGUF reader: a bounds-checked parser over a byte span (mmap or memory).
//
// Every count read from the file is checked against the bytes that remain
// BEFORE anything is allocated for it, so a hostile 2^60 array length fails
// with a FormatError instead of exhausting memory. Every failure names the
// file, the byte position and the field.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "gguf/gguf.h"

namespace kiln::gguf {

struct File::Contents {
  std::vector<std::pair<std::string, Value>> kv;
  std::vector<TensorInfo> tensors;
  std::unordered_map<std::string_view, size_t> tensor_index;  // views into tensors[i].name
};

namespace {

constexpr uint32_t kMaxDims = 4;       // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 16;     // deeper nesting is hostile, not a model
constexpr uint64_t kDefaultAlignment = 32;

// Smallest encoding of one value of type t (a string is at least its u64
// length, an array at least its element type and count). Used to reject
// counts that cannot fit in the bytes left.
uint64_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    case ValueType::STRING: return 8;
    case ValueType::ARRAY: return 12;
  }
  return 1;
}

bool known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::F64); }

uint32_t byteswap32(uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

}  // namespace

class Parser {
 public:
  Parser(std::span<const uint8_t> bytes, std::string name) : bytes_(bytes), name_(std::move(name)) {}

  File run() {
    File f;
    auto contents = std::make_shared<File::Contents>();
    f.name_ = name_;
    f.size_ = bytes_.size();
    read_header(f);
    read_metadata(f, *contents);
    read_tensor_infos(*contents);
    place_tensors(f, *contents);
    f.contents_ = std::move(contents);
    return f;
  }

 private:
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint64_t pos_ = 0;

  uint64_t remaining() const { return bytes_.size() - pos_; }

  [[noreturn]] void fail(uint64_t at, const std::string& what) const {
    throw FormatError(name_ + ": malformed GGUF at byte " + std::to_string(at) + ": " + what);
  }

  // Returns a pointer to the next n bytes and advances past them.
  const uint8_t* take(uint64_t n, const char* what) {
    if (n > remaining())
      fail(pos_, std::string("file truncated reading ") + what + " (need " + std::to_string(n) +
                     " bytes, " + std::to_string(remaining()) + " left)");
    const uint8_t* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }

  template <class T>
  T read(const char* what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));  // unaligned-safe, little-endian host
    return v;
  }

  // Reads a count and checks that `count` items of at least `min_each` bytes
  // fit in what is left of the file.
  uint64_t read_count(const char* what, uint64_t min_each, const std::string& whose = {}) {
    const uint64_t at = pos_;
    const uint64_t n = read<uint64_t>(what);
    if (min_each && n > remaining() / min_each)
      fail(at, what + (" " + std::to_string(n)) + whose + " cannot fit in the " +
                   std::to_string(remaining()) + " bytes left (each needs at least " +
                   std::to_string(min_each) + ")");
    return n;
  }

  std::string_view read_string_view(const char* what) {
    const uint64_t at = pos_;
    const uint64_t len = read<uint64_t>(what);
    if (len > remaining())
      fail(at, std::string(what) + " length " + std::to_string(len) + " exceeds the " +
                   std::to_string(remaining()) + " bytes left");
    return {reinterpret_cast<const char*>(take(len, what)), static_cast<size_t>(len)};
  }

  void read_header(File& f) {
    take(4, "magic");
    if (std::memcmp(bytes_.data(), "GGUF", 4) != 0) {
      if (std::memcmp(bytes_.data(), "FUGG", 4) == 0)
        fail(0, "big-endian GGUF (magic \"FUGG\") is not supported");
      fail(0, "bad magic: not a GGUF file (expected \"GGUF\")");
    }
    const uint32_t version = read<uint32_t>("version");
    // A big-endian writer stores the version byte-swapped: 3 reads as 0x03000000.
    if ((version & 0xffffu) == 0 && version != 0)
      fail(4, "big-endian GGUF (version reads as " + std::to_string(version) + ", byte-swapped " +
                  std::to_string(byteswap32(version)) + ") is not supported");
    if (version == 1)
      fail(4, "GGUF version 1 is not supported (it used 32-bit counts); convert the file to v3");
    if (version != 2 && version != 3)
      fail(4, "unsupported GGUF version " + std::to_string(version) + " (supported: 2, 3)");
    f.version_ = version;
  }

  Value read_value(ValueType t, int depth, const std::string& key) {
    switch (t) {
      case ValueType::U8: return Value::u8(read<uint8_t>("u8 value"));
      case ValueType::I8: return Value::i8(read<int8_t>("i8 value"));
      case ValueType::U16: return Value::u16(read<uint16_t>("u16 value"));
      case ValueType::I16: return Value::i16(read<int16_t>("i16 value"));
      case ValueType::U32: return Value::u32(read<uint32_t>("u32 value"));
      case ValueType::I32: return Value::i32(read<int32_t>("i32 value"));
      case ValueType::F32: return Value::f32(read<float>("f32 value"));
      case ValueType::U64: return Value::u64(read<uint64_t>("u64 value"));
      case ValueType::I64: return Value::i64(read<int64_t>("i64 value"));
      case ValueType::F64: return Value::f64(read<double>("f64 value"));
      case ValueType::BOOL: {
        const uint64_t at = pos_;
        const uint8_t b = read<uint8_t>("bool value");
        if (b > 1) fail(at, "bool value " + std::to_string(b) + " of key '" + key + "' is neither 0 nor 1");
        return Value::boolean(b != 0);
      }
      case ValueType::STRING:
        return Value::string(std::string(read_string_view("string value")));
      case ValueType::ARRAY:
        return read_array(depth + 1, key);
    }
    fail(pos_, "unknown value type");
  }

  Value read_array(int depth, const std::string& key) {
    const uint64_t at = pos_;
    if (depth > kMaxArrayDepth)
      fail(at, "arrays in key '" + key + "' nested deeper than " + std::to_string(kMaxArrayDepth));
    const uint32_t elem = read<uint32_t>("array element type");
    if (!known_value_type(elem))
      fail(at, "unknown array element type " + std::to_string(elem) + " in key '" + key + "'");
    const auto elem_type = static_cast<ValueType>(elem);
    const uint64_t n = read_count("array length", min_encoded_size(elem_type), " of key '" + key + "'");
    Value::Array items;
    items.reserve(static_cast<size_t>(n));
    for (uint64_t i = 0; i < n; ++i) items.push_back(read_value(elem_type, depth, key));
    return Value::array(elem_type, std::move(items));
  }

  void read_metadata(File& f, File::Contents& c) {
    const uint64_t tensor_count = read_count("tensor count", 0);
    const uint64_t kv_at = pos_;
    const uint64_t kv_count = read_count("metadata key/value count", 0);
    // Each key/value needs at least 8 (key length) + 4 (type) + 1 bytes; the
    // tensor count is checked the same way once the metadata is read.
    if (kv_count > remaining() / 13)
      fail(kv_at, "metadata key/value count " + std::to_string(kv_count) + " cannot fit in the " +
                      std::to_string(remaining()) + " bytes left");
    tensor_count_ = tensor_count;

    std::unordered_set<std::string_view> seen;
    c.kv.reserve(static_cast<size_t>(kv_count));
    for (uint64_t i = 0; i < kv_count; ++i) {
      const uint64_t key_at = pos_;
      const std::string_view key = read_string_view("metadata key");
      if (!seen.insert(key).second) fail(key_at, "duplicate metadata key '" + std::string(key) + "'");
      const uint64_t type_at = pos_;
      const uint32_t type = read<uint32_t>("metadata value type");
      if (!known_value_type(type))
        fail(type_at, "unknown value type " + std::to_string(type) + " for key '" + std::string(key) + "'");
      std::string key_str(key);
      Value v = read_value(static_cast<ValueType>(type), 0, key_str);
      if (key == "general.alignment") check_alignment(f, v, type_at);
      c.kv.emplace_back(std::move(key_str), std::move(v));
    }
  }

  void check_alignment(File& f, const Value& v, uint64_t at) const {
    // llama.cpp reads general.alignment strictly as u32.
    if (v.type() != ValueType::U32)
      fail(at, "general.alignment has type " + std::string(value_type_name(v.type())) + ", expected u32");
    const uint64_t a = v.as_uint();
    if (a == 0 || (a & (a - 1)) != 0)
      fail(at, "general.alignment " + std::to_string(a) + " is not a power of two");
    f.alignment_ = a;
  }

  void read_tensor_infos(File::Contents& c) {
    // Each tensor info needs at least 8 (name length) + 4 + 4 + 8 bytes.
    if (tensor_count_ > remaining() / 24)
      fail(pos_, "tensor count " + std::to_string(tensor_count_) + " cannot fit in the " +
                     std::to_string(remaining()) + " bytes left after the metadata");
    c.tensors.reserve(static_cast<size_t>(tensor_count_));
    c.tensor_index.reserve(static_cast<size_t>(tensor_count_));
    info_at.reserve(static_cast<size_t>(tensor_count_));
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      info_at.push_back(pos_);
      TensorInfo t;
      const std::string_view name = read_string_view("tensor name");
      if (name.empty()) fail(info_at.back(), "tensor " + std::to_string(i) + " has an empty name");
      t.name = std::string(name);
      const std::string who = "tensor '" + t.name + "'";

      const uint64_t dims_at = pos_;
      const uint32_t n_dims = read<uint32_t>("tensor dimension count");
      if (n_dims > kMaxDims)
        fail(dims_at, who + " has " + std::to_string(n_dims) + " dimensions (at most 4)");
      // The product of the non-zero dimensions must fit in int64, so that every
      // partial product (rows, elements) does even when another dimension is 0.
      int64_t nelements = 1, magnitude = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t ne_at = pos_;
        const uint64_t ne = read<uint64_t>("tensor dimension");
        if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          fail(ne_at, who + " dimension " + std::to_string(d) + " is " + std::to_string(ne) +
                          " (negative as int64)");
        const auto sne = static_cast<int64_t>(ne);
        if (sne != 0 && magnitude > std::numeric_limits<int64_t>::max() / sne)
          fail(ne_at, who + " element count overflows int64 at dimension " + std::to_string(d));
        if (sne != 0) magnitude *= sne;
        nelements *= sne;
        t.shape.push_back(sne);
      }

      const uint64_t type_at = pos_;
      const uint32_t type_id = read<uint32_t>("tensor type");
      const auto tr = type_traits(type_id);
      if (!tr) fail(type_at, who + " has unknown ggml type id " + std::to_string(type_id));
      t.type = static_cast<GgmlType>(type_id);
      const int64_t row = t.row_length();
      if (row % tr->block_size != 0)
        fail(type_at, who + " row length " + std::to_string(row) + " is not a multiple of the " +
                          std::string(tr->name) + " block size " + std::to_string(tr->block_size));
      // bytes = nelements / block_size * block_bytes, guarded against overflow.
      const uint64_t blocks = static_cast<uint64_t>(nelements / tr->block_size);
      if (tr->block_bytes && blocks > std::numeric_limits<uint64_t>::max() / 2 / tr->block_bytes)
        fail(type_at, who + " byte size overflows");
      t.nbytes = blocks * tr->block_bytes;

      t.offset = read<uint64_t>("tensor offset");
      c.tensors.push_back(std::move(t));
    }
    // Index after the vector stops growing: the views point into its strings.
    for (size_t i = 0; i < c.tensors.size(); ++i)
      if (!c.tensor_index.emplace(c.tensors[i].name, i).second)
        fail(info_at[i], "duplicate tensor name '" + c.tensors[i].name + "' (tensor " + std::to_string(i) + ")");
  }

  void place_tensors(File& f, File::Contents& c) {
    const uint64_t a = f.alignment_;
    const uint64_t header_end = pos_;
    const uint64_t data_offset = header_end + (a - header_end % a) % a;
    f.data_offset_ = data_offset;
    if (c.tensors.empty()) return;  // a metadata-only file needs no data section
    if (data_offset > bytes_.size())
      fail(header_end, "data section starts at byte " + std::to_string(data_offset) +
                           ", beyond the end of the file (" + std::to_string(bytes_.size()) + " bytes)");
    const uint64_t data_size = bytes_.size() - data_offset;
    for (size_t i = 0; i < c.tensors.size(); ++i) {
      TensorInfo& t = c.tensors[i];
      if (t.offset % a != 0)
        fail(info_at[i], "tensor '" + t.name + "' offset " + std::to_string(t.offset) +
                              " is not a multiple of the alignment " + std::to_string(a));
      if (t.offset > data_size || t.nbytes > data_size - t.offset)
        fail(info_at[i], "tensor '" + t.name + "' data [" + std::to_string(t.offset) + ", +" +
                              std::to_string(t.nbytes) + ") lies beyond the data section (" +
                              std::to_string(data_size) + " bytes, file " +
                              std::to_string(bytes_.size()) + " bytes)");
      t.data = bytes_.data() + data_offset + t.offset;
    }
    // Overlap check: sort by offset, each tensor must end before the next begins.
    std::vector<size_t> by_offset(c.tensors.size());
    for (size_t i = 0; i < by_offset.size(); ++i) by_offset[i] = i;
    std::sort(by_offset.begin(), by_offset.end(),
              [&](size_t x, size_t y) { return c.tensors[x].offset < c.tensors[y].offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const TensorInfo& prev = c.tensors[by_offset[i - 1]];
      const TensorInfo& cur = c.tensors[by_offset[i]];
      if (prev.nbytes > 0 && cur.nbytes > 0 && prev.offset + prev.nbytes > cur.offset)
        fail(info_at[by_offset[i]], "tensor '" + cur.name + "' at offset " + std::to_string(cur.offset) +
                              " overlaps tensor '" + prev.name + "' [" + std::to_string(prev.offset) +
                              ", " + std::to_string(prev.offset + prev.nbytes) + ")");
    }
  }

  uint64_t tensor_count_ = 0;
  std::vector<uint64_t> info_at;  // where each tensor's info starts, for messages
};

File File::parse(std::span<const uint8_t> bytes, std::string display_name) {
  return Parser(bytes, std::move(display_name)).run();
}

File File::open(const std::filesystem::path& path) {
  const std::string shown = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open " + shown + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = S_ISREG(st.st_mode) ? errno : 0;
    ::close(fd);
    throw Error("cannot open " + shown + ": " + (err ? std::strerror(err) : "not a regular file"));
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size == 0) {  // mmap cannot map nothing; the parser reports the truncation
    ::close(fd);
    return parse({}, shown);
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (p == MAP_FAILED) throw Error("cannot map " + shown + ": " + std::strerror(err));
  std::shared_ptr<const void> mapping(p, [size](const void* q) { ::munmap(const_cast<void*>(q), size); });
  File f = parse({static_cast<const uint8_t*>(p), size}, shown);
  f.mapping_ = std::move(mapping);
  return f;
}

// A default-constructed File has no contents; it reads as empty.
const std::vector<std::pair<std::string, Value>>& File::metadata() const {
  static const Contents empty;
  return (contents_ ? *contents_ : empty).kv;
}

const std::vector<TensorInfo>& File::tensors() const {
  static const Contents empty;
  return (contents_ ? *contents_ : empty).tensors;
}

const TensorInfo* File::tensor(std::string_view name) const {
  if (!contents_) return nullptr;
  auto it = contents_->tensor_index.find(name);
  return it == contents_->tensor_index.end() ? nullptr : &contents_->tensors[it->second];
}

const Value* File::find(std::string_view key) const {
  for (const auto& [k, v] : metadata())
    if (k == key) return &v;
  return nullptr;
}

namespace {
[[noreturn]] void key_type_error(const std::string& file, std::string_view key, const Value& v,
                                 const char* expected) {
  throw Error(file + ": metadata key '" + std::string(key) + "' has type " +
              std::string(value_type_name(v.type())) + ", expected " + expected);
}
}  // namespace

std::string File::get_string(std::string_view key, std::string fallback) const {
  const Value* v = find(key);
  if (!v) return fallback;
  if (!v->is_string()) key_type_error(name_, key, *v, "string");
  return v->as_string();
}

int64_t File::get_int(std::string_view key, int64_t fallback) const {
  const Value* v = find(key);
  if (!v) return fallback;
  if (!v->is_integer()) key_type_error(name_, key, *v, "an integer");
  try {
    return v->as_int();
  } catch (const Error& e) {
    throw Error(name_ + ": metadata key '" + std::string(key) + "': " + e.what());
  }
}

double File::get_float(std::string_view key, double fallback) const {
  const Value* v = find(key);
  if (!v) return fallback;
  if (!v->is_float() && !v->is_integer()) key_type_error(name_, key, *v, "a number");
  return v->as_float();
}

bool File::get_bool(std::string_view key, bool fallback) const {
  const Value* v = find(key);
  if (!v) return fallback;
  if (v->type() != ValueType::BOOL) key_type_error(name_, key, *v, "bool");
  return v->as_bool();
}

std::string File::architecture() const {
  const Value* v = find("general.architecture");
  if (!v) throw Error(name_ + ": metadata key 'general.architecture' is missing");
  if (!v->is_string()) key_type_error(name_, "general.architecture", *v, "string");
  return v->as_string();
}

std::string File::arch_key(std::string_view suffix) const {
  return architecture() + "." + std::string(suffix);
}

}  // namespace kiln::gguf
