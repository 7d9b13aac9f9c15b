#pragma once
// GGUF files: a validating, zero-copy reader (mmap) and a writer.
//
// Layout (v2/v3, little-endian): magic "GGUF", u32 version, u64 tensor_count,
// u64 kv_count, kv_count x (string key, u32 type, value), tensor_count x
// (string name, u32 n_dims, n_dims x u64 ne, u32 ggml type, u64 offset), then
// padding to `general.alignment` (default 32) and the tensor data section.
// Tensor offsets are relative to the start of the data section.
//
// The reader rejects (FormatError, naming file, byte position and field): bad
// magic; versions other than 2 and 3 (v1, big-endian); truncation anywhere;
// counts and lengths that cannot fit in the bytes left (checked before any
// allocation); unknown value or element types; bools other than 0/1; arrays
// nested deeper than 16; duplicate keys; general.alignment that is not a u32
// power of two; empty or duplicate tensor names; more than 4 dimensions;
// negative dimensions or element counts overflowing int64; unknown ggml types;
// rows that are not whole quant blocks; tensor offsets unaligned, out of the
// file or overlapping; a data section starting beyond the end of the file.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace kiln::gguf {

// Thrown for every malformed file; the message names the file position or the
// field that is wrong.
class FormatError : public kiln::Error {
 public:
  using kiln::Error::Error;
};

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
std::string_view value_type_name(ValueType t);

// One metadata value. Scalars keep their exact GGUF type; arrays keep their
// element type and may nest (an array of arrays).
class Value {
 public:
  using Array = std::vector<Value>;

  Value() : type_(ValueType::U32), data_(uint64_t{0}) {}
  static Value u8(uint8_t v) { return Value(ValueType::U8, uint64_t{v}); }
  static Value i8(int8_t v) { return Value(ValueType::I8, int64_t{v}); }
  static Value u16(uint16_t v) { return Value(ValueType::U16, uint64_t{v}); }
  static Value i16(int16_t v) { return Value(ValueType::I16, int64_t{v}); }
  static Value u32(uint32_t v) { return Value(ValueType::U32, uint64_t{v}); }
  static Value i32(int32_t v) { return Value(ValueType::I32, int64_t{v}); }
  static Value u64(uint64_t v) { return Value(ValueType::U64, v); }
  static Value i64(int64_t v) { return Value(ValueType::I64, v); }
  static Value f32(float v) { return Value(ValueType::F32, double{v}); }
  static Value f64(double v) { return Value(ValueType::F64, v); }
  static Value boolean(bool v) { return Value(ValueType::BOOL, v); }
  static Value string(std::string v) { return Value(ValueType::STRING, std::move(v)); }
  // elem_type is kept even for empty arrays (GGUF stores it).
  static Value array(ValueType elem_type, Array items);

  ValueType type() const { return type_; }
  ValueType elem_type() const { return elem_type_; }  // arrays only
  bool is_array() const { return type_ == ValueType::ARRAY; }
  bool is_string() const { return type_ == ValueType::STRING; }
  bool is_integer() const;  // any of the 8 integer types
  bool is_float() const { return type_ == ValueType::F32 || type_ == ValueType::F64; }

  // Checked accessors: throw kiln::Error naming the expected and actual type
  // (or the value that does not fit).
  int64_t as_int() const;    // integer types; u64 above INT64_MAX throws
  uint64_t as_uint() const;  // integer types; negative throws
  double as_float() const;   // float or integer types
  bool as_bool() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  size_t size() const { return as_array().size(); }
  const Value& operator[](size_t i) const { return as_array().at(i); }

  // Human-readable rendering for `kiln show` (long arrays are abbreviated).
  std::string to_display(size_t max_items = 8) const;

 private:
  Value(ValueType t, std::variant<uint64_t, int64_t, double, bool, std::string, Array> d)
      : type_(t), data_(std::move(d)) {}
  ValueType type_;
  ValueType elem_type_ = ValueType::U8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> data_;
};

struct TensorInfo {
  std::string name;
  GgmlType type;
  std::vector<int64_t> shape;  // ne[0] first: the contiguous (row) dimension
  uint64_t offset = 0;         // relative to the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // points into the mapping (reader only)

  int64_t nelements() const;
  int64_t row_length() const { return shape.empty() ? 1 : shape[0]; }
  int64_t nrows() const;
};

// A parsed, validated GGUF file. Cheap to copy (the mapping is shared).
// Tensor data pointers stay valid while any copy is alive.
class File {
 public:
  // mmaps (read-only) and validates the file. Throws FormatError (malformed)
  // or kiln::Error (cannot open) with the path in the message. The file must
  // not be truncated while mapped (as with any mmap reader).
  static File open(const std::filesystem::path& path);
  // Validates a GGUF image in memory without copying it; `bytes` must outlive
  // the File. Used by the fuzzer and by tests.
  static File parse(std::span<const uint8_t> bytes, std::string display_name = "<memory>");

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute start of tensor data
  uint64_t file_size() const { return size_; }
  const std::string& name() const { return name_; }  // path or display name

  const std::vector<std::pair<std::string, Value>>& metadata() const;
  const Value* find(std::string_view key) const;  // nullptr if absent
  // Typed lookups: absent -> fallback; present with the wrong type -> kiln::Error.
  std::string get_string(std::string_view key, std::string fallback = {}) const;
  int64_t get_int(std::string_view key, int64_t fallback) const;
  double get_float(std::string_view key, double fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  // general.architecture; throws if missing.
  std::string architecture() const;
  // Architecture-scoped key: arch_key("context_length") -> "<arch>.context_length".
  std::string arch_key(std::string_view suffix) const;

  const std::vector<TensorInfo>& tensors() const;
  const TensorInfo* tensor(std::string_view name) const;  // nullptr if absent

 private:
  struct Contents;  // metadata, tensor table and name index, shared by copies
  std::shared_ptr<const void> mapping_;  // keeps an mmap alive (open()) or empty (parse())
  std::shared_ptr<const Contents> contents_;
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  uint64_t size_ = 0;

  friend class Parser;
};

// Writes GGUF v3 (or v2) files. Metadata and tensors are written in the order
// they were added; tensor data comes from a byte span or from a fill callback
// (so multi-GB synthetic models never sit in memory).
class Writer {
 public:
  // Tensor data is streamed: write() calls fill(dst, nbytes) repeatedly, each
  // call producing the NEXT nbytes of the tensor (in order, totalling the
  // tensor's size), so memory stays bounded by one chunk (kChunkBytes) however
  // large the tensor. Each chunk holds whole rows when a row fits in a chunk,
  // else whole quant blocks. A fill that keeps a position must be fresh for
  // every write() call.
  using Fill = std::function<void(uint8_t* dst, size_t nbytes)>;
  static constexpr size_t kChunkBytes = size_t{4} << 20;

  explicit Writer(uint32_t version = 3);
  void set(std::string key, Value value);  // replaces an existing key
  // The bytes are copied (small tensors); data.size() must match the shape.
  void add_tensor(std::string name, GgmlType type, std::vector<int64_t> shape,
                  std::span<const uint8_t> data);
  void add_tensor(std::string name, GgmlType type, std::vector<int64_t> shape, Fill fill);
  // Writes to path atomically (temporary file + rename). Alignment comes from
  // general.alignment if set, else 32.
  void write(const std::filesystem::path& path) const;

 private:
  struct PendingTensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> shape;
    uint64_t nbytes;
    Fill fill;                                         // streamed data, or
    std::shared_ptr<const std::vector<uint8_t>> bytes;  // copied data
  };
  uint32_t version_;
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace kiln::gguf
