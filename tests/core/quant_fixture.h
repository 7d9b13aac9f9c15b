#pragma once
// Readers for the binary fixtures written by tools/gen_quant_fixtures.py
// (the layout is documented there). Header-only: shared by the quant tests.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace kiln::test {

inline std::string quant_fixture_dir() { return std::string(KILN_FIXTURES) + "/quant/"; }

// Sequential little-endian reader over a whole file.
class FixtureReader {
 public:
  explicit FixtureReader(const std::string& path) : path_(path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open fixture " + path);
    bytes_.assign(std::istreambuf_iterator<char>(in), {});
  }
  template <typename T>
  T get() {
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  std::string bytes_as_string(size_t n) { return std::string(reinterpret_cast<const char*>(take(n)), n); }
  std::vector<uint8_t> raw(size_t n) {
    const uint8_t* p = take(n);
    return {p, p + n};
  }
  std::vector<float> floats(size_t n) {
    std::vector<float> v(n);
    std::memcpy(v.data(), take(n * 4), n * 4);
    return v;
  }
  void expect_magic(const char (&magic)[5]) {
    if (bytes_as_string(4) != magic || get<uint32_t>() != 1)
      throw std::runtime_error(path_ + ": not a version-1 '" + magic + "' fixture");
  }
  bool at_end() const { return pos_ == bytes_.size(); }

 private:
  const uint8_t* take(size_t n) {
    if (pos_ + n > bytes_.size()) throw std::runtime_error(path_ + ": truncated fixture");
    const uint8_t* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::string path_;
  std::vector<uint8_t> bytes_;
  size_t pos_ = 0;
};

// Bytes are kept in a uint64_t-backed buffer so block structs read from them
// are suitably aligned.
struct AlignedBytes {
  std::vector<uint64_t> storage;
  size_t size = 0;
  explicit AlignedBytes(const std::vector<uint8_t>& b) : storage((b.size() + 7) / 8), size(b.size()) {
    if (!b.empty()) std::memcpy(storage.data(), b.data(), b.size());
  }
  explicit AlignedBytes(size_t n) : storage((n + 7) / 8), size(n) {}
  void* data() { return storage.data(); }
  const uint8_t* bytes() const { return reinterpret_cast<const uint8_t*>(storage.data()); }
};

struct DequantFixture {
  GgmlType type;
  std::vector<uint8_t> blocks;
  std::vector<float> expected;
};

inline DequantFixture read_dequant_fixture(const std::string& file) {
  FixtureReader r(quant_fixture_dir() + file);
  r.expect_magic("KQDQ");
  DequantFixture f;
  f.type = static_cast<GgmlType>(r.get<uint32_t>());
  const uint32_t n = r.get<uint32_t>(), nbytes = r.get<uint32_t>();
  f.blocks = r.raw(nbytes);
  f.expected = r.floats(n);
  return f;
}

struct QuantFixture {
  GgmlType type;
  std::vector<float> input;
  std::vector<uint8_t> expected;
};

inline QuantFixture read_quant_fixture(const std::string& file) {
  FixtureReader r(quant_fixture_dir() + file);
  r.expect_magic("KQQT");
  QuantFixture f;
  f.type = static_cast<GgmlType>(r.get<uint32_t>());
  const uint32_t n = r.get<uint32_t>(), nbytes = r.get<uint32_t>();
  f.input = r.floats(n);
  f.expected = r.raw(nbytes);
  return f;
}

// sum(bits(f_i) * (2i + 1)) mod 2^64, as in the fixture script.
inline uint64_t float_checksum(const float* v, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &v[i], 4);
    sum += static_cast<uint64_t>(bits) * (2 * static_cast<uint64_t>(i) + 1);
  }
  return sum;
}

}  // namespace kiln::test
