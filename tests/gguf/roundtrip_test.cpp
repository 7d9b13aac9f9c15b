// Writer -> reader round trips: every value type, nested and empty arrays, v2
// and v3, alignment variants, tensors of several types, streamed fills.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <numeric>

#include "gguf/gguf.h"
#include "test_util.h"

namespace kiln::gguf {
namespace {

using testing::ScratchDir;
using testing::same_value;

std::vector<std::pair<std::string, Value>> every_value_type() {
  using L = std::numeric_limits<int64_t>;
  return {
      {"t.u8", Value::u8(255)},
      {"t.i8", Value::i8(-128)},
      {"t.u16", Value::u16(65535)},
      {"t.i16", Value::i16(-32768)},
      {"t.u32", Value::u32(4294967295u)},
      {"t.i32", Value::i32(std::numeric_limits<int32_t>::min())},
      {"t.u64", Value::u64(std::numeric_limits<uint64_t>::max())},
      {"t.i64", Value::i64(L::min())},
      {"t.f32", Value::f32(-1.5e-7f)},
      {"t.f64", Value::f64(3.141592653589793)},
      {"t.bool", Value::boolean(true)},
      {"t.bool_false", Value::boolean(false)},
      {"t.string", Value::string("héllo\n\"world\"")},
      {"t.empty_string", Value::string("")},
      {"t.string_nul", Value::string(std::string("a\0b", 3))},
      {"t.arr_u8", Value::array(ValueType::U8, {Value::u8(1), Value::u8(2)})},
      {"t.arr_i64", Value::array(ValueType::I64, {Value::i64(-1), Value::i64(L::max())})},
      {"t.arr_f32", Value::array(ValueType::F32, {Value::f32(0.25f), Value::f32(-0.0f)})},
      {"t.arr_bool", Value::array(ValueType::BOOL, {Value::boolean(false), Value::boolean(true)})},
      {"t.arr_str", Value::array(ValueType::STRING, {Value::string("a"), Value::string(""), Value::string("ccc")})},
      {"t.arr_empty_u32", Value::array(ValueType::U32, {})},
      {"t.arr_empty_str", Value::array(ValueType::STRING, {})},
      {"t.arr_nested",
       Value::array(ValueType::ARRAY,
                    {Value::array(ValueType::STRING, {Value::string("x"), Value::string("y")}),
                     Value::array(ValueType::I16, {Value::i16(-7)}), Value::array(ValueType::F64, {}),
                     Value::array(ValueType::ARRAY, {Value::array(ValueType::U8, {Value::u8(9)})})})},
      {"t.arr_empty_nested", Value::array(ValueType::ARRAY, {})},
  };
}

TEST(RoundTrip, EveryValueTypeV2AndV3) {
  for (uint32_t version : {2u, 3u}) {
    ScratchDir dir;
    Writer w(version);
    const auto kv = every_value_type();
    for (const auto& [k, v] : kv) w.set(k, v);
    w.write(dir / "m.gguf");
    const File f = File::open(dir / "m.gguf");
    EXPECT_EQ(f.version(), version);
    ASSERT_EQ(f.metadata().size(), kv.size());
    for (size_t i = 0; i < kv.size(); ++i) {
      EXPECT_EQ(f.metadata()[i].first, kv[i].first);  // order preserved
      EXPECT_TRUE(same_value(f.metadata()[i].second, kv[i].second)) << kv[i].first;
    }
    EXPECT_TRUE(f.tensors().empty());
  }
}

TEST(RoundTrip, SetReplacesExistingKeyInPlace) {
  ScratchDir dir;
  Writer w;
  w.set("a", Value::u32(1));
  w.set("b", Value::u32(2));
  w.set("a", Value::string("three"));
  w.write(dir / "m.gguf");
  const File f = File::open(dir / "m.gguf");
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].first, "a");
  EXPECT_EQ(f.get_string("a"), "three");
  EXPECT_EQ(f.get_int("b", 0), 2);
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return v;
}

struct TensorSpec {
  std::string name;
  GgmlType type;
  std::vector<int64_t> shape;
};

const std::vector<TensorSpec> kSpecs = {
    {"f32.vec", GgmlType::F32, {7}},
    {"f16.mat", GgmlType::F16, {5, 3}},
    {"bf16.mat", GgmlType::BF16, {4, 2, 2}},
    {"q4_0.mat", GgmlType::Q4_0, {64, 3}},
    {"q8_0.mat", GgmlType::Q8_0, {32, 5}},
    {"q4_k.mat", GgmlType::Q4_K, {256, 2}},
    {"q6_k.mat", GgmlType::Q6_K, {512, 1, 1, 2}},
    {"i32.vec", GgmlType::I32, {3}},
    {"empty.vec", GgmlType::F32, {0}},
};

TEST(RoundTrip, TensorsAtEveryAlignment) {
  for (uint32_t alignment : {1u, 8u, 32u, 64u, 4096u}) {
    SCOPED_TRACE("alignment " + std::to_string(alignment));
    ScratchDir dir;
    Writer w;
    w.set("general.architecture", Value::string("test"));
    if (alignment != 32) w.set("general.alignment", Value::u32(alignment));
    std::vector<std::vector<uint8_t>> data;
    for (size_t i = 0; i < kSpecs.size(); ++i) {
      const auto& s = kSpecs[i];
      int64_t nrows = 1;
      for (size_t d = 1; d < s.shape.size(); ++d) nrows *= s.shape[d];
      data.push_back(pattern(row_bytes(s.type, s.shape[0]) * nrows, i + 1));
      w.add_tensor(s.name, s.type, s.shape, data.back());
    }
    w.write(dir / "m.gguf");
    const File f = File::open(dir / "m.gguf");
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    ASSERT_EQ(f.tensors().size(), kSpecs.size());
    uint64_t expected_end = f.data_offset();
    for (size_t i = 0; i < kSpecs.size(); ++i) {
      const TensorInfo& t = f.tensors()[i];
      EXPECT_EQ(t.name, kSpecs[i].name);
      EXPECT_EQ(t.type, kSpecs[i].type);
      EXPECT_EQ(t.shape, kSpecs[i].shape);
      EXPECT_EQ(t.offset % alignment, 0u) << t.name;
      EXPECT_EQ(t.nbytes, data[i].size()) << t.name;
      EXPECT_EQ(f.data_offset() + t.offset, expected_end) << t.name << " is not packed";
      if (!data[i].empty()) {
        EXPECT_EQ(std::memcmp(t.data, data[i].data(), data[i].size()), 0) << t.name;
      }
      expected_end += (t.nbytes + alignment - 1) / alignment * alignment;
      EXPECT_EQ(f.tensor(t.name), &t);
    }
    EXPECT_EQ(f.file_size(), expected_end);  // the last tensor is padded too, as llama.cpp does
  }
}

TEST(RoundTrip, NelementsAndRows) {
  ScratchDir dir;
  Writer w;
  w.add_tensor("t", GgmlType::Q8_0, {64, 3, 2}, pattern(row_bytes(GgmlType::Q8_0, 64) * 6, 1));
  w.write(dir / "m.gguf");
  const File f = File::open(dir / "m.gguf");
  EXPECT_EQ(f.tensors()[0].nelements(), 64 * 3 * 2);
  EXPECT_EQ(f.tensors()[0].nrows(), 6);
  EXPECT_EQ(f.tensors()[0].row_length(), 64);
}

// A tensor bigger than one chunk is filled piece by piece, each piece whole
// rows and at most kChunkBytes, and the pieces arrive in order.
TEST(RoundTrip, FillStreamsWholeRowsInBoundedChunks) {
  ScratchDir dir;
  const int64_t row = 1000, rows = 3000;  // 12 MB of f32
  const size_t row_b = row * 4;
  std::vector<size_t> pieces;
  uint64_t produced = 0;
  Writer w;
  w.add_tensor("big", GgmlType::F32, {row, rows}, [&](uint8_t* dst, size_t n) {
    pieces.push_back(n);
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>((produced + i) % 251);
    produced += n;
  });
  w.add_tensor("after", GgmlType::F32, {4}, pattern(16, 9));
  w.write(dir / "m.gguf");
  EXPECT_GT(pieces.size(), 1u);
  for (size_t n : pieces) {
    EXPECT_LE(n, Writer::kChunkBytes);
    EXPECT_EQ(n % row_b, 0u);
  }
  EXPECT_EQ(produced, row_b * rows);
  const File f = File::open(dir / "m.gguf");
  const TensorInfo* t = f.tensor("big");
  ASSERT_NE(t, nullptr);
  bool ok = true;
  for (uint64_t i = 0; i < t->nbytes && ok; ++i) ok = t->data[i] == i % 251;
  EXPECT_TRUE(ok);
  EXPECT_EQ(std::memcmp(f.tensor("after")->data, pattern(16, 9).data(), 16), 0);
}

TEST(Writer, ReplacesTargetAtomicallyAndLeavesNoTempFiles) {
  ScratchDir dir;
  {
    Writer w;
    w.set("v", Value::u32(1));
    w.write(dir / "m.gguf");
  }
  // A fill that fails midway: the old file stays intact, no temp file is left.
  Writer bad;
  bad.set("v", Value::u32(2));
  bad.add_tensor("t", GgmlType::F32, {4}, [](uint8_t*, size_t) { throw Error("generator failed"); });
  EXPECT_THROW(bad.write(dir / "m.gguf"), Error);
  EXPECT_EQ(File::open(dir / "m.gguf").get_int("v", 0), 1);
  Writer good;
  good.set("v", Value::u32(3));
  good.write(dir / "m.gguf");
  EXPECT_EQ(File::open(dir / "m.gguf").get_int("v", 0), 3);
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);
}

TEST(Writer, RejectsInvalidInput) {
  EXPECT_THROW(Writer(1), Error);
  EXPECT_THROW(Writer(4), Error);
  Writer w;
  EXPECT_THROW(w.add_tensor("q", GgmlType::Q4_K, {100, 2}, std::vector<uint8_t>{}), Error);  // 100 % 256
  EXPECT_THROW(w.add_tensor("f", GgmlType::F32, {4}, std::vector<uint8_t>(15)), Error);     // size mismatch
  EXPECT_THROW(w.add_tensor("d", GgmlType::F32, {1, 1, 1, 1, 1}, [](uint8_t*, size_t) {}), Error);
  EXPECT_THROW(w.add_tensor("n", GgmlType::F32, {-1}, [](uint8_t*, size_t) {}), Error);
  w.add_tensor("x", GgmlType::F32, {1}, std::vector<uint8_t>(4));
  EXPECT_THROW(w.add_tensor("x", GgmlType::F32, {1}, std::vector<uint8_t>(4)), Error);
  EXPECT_THROW(Value::array(ValueType::U8, {Value::u16(1)}), Error);
  ScratchDir dir;
  Writer a;
  a.set("general.alignment", Value::u32(48));
  EXPECT_THROW(a.write(dir / "m.gguf"), Error);
  a.set("general.alignment", Value::u64(64));
  EXPECT_THROW(a.write(dir / "m.gguf"), Error);
  EXPECT_THROW(Writer().write(dir / "missing-dir" / "m.gguf"), Error);
}

TEST(Value, CheckedAccessors) {
  EXPECT_EQ(Value::u8(200).as_int(), 200);
  EXPECT_EQ(Value::i32(-5).as_int(), -5);
  EXPECT_EQ(Value::u64(1ull << 63).as_uint(), 1ull << 63);
  EXPECT_THROW(Value::u64(1ull << 63).as_int(), Error);
  EXPECT_THROW(Value::i8(-1).as_uint(), Error);
  EXPECT_THROW(Value::string("x").as_int(), Error);
  EXPECT_THROW(Value::u32(1).as_string(), Error);
  EXPECT_THROW(Value::u32(1).as_bool(), Error);
  EXPECT_THROW(Value::u32(1).as_array(), Error);
  EXPECT_THROW(Value::boolean(true).as_float(), Error);
  EXPECT_DOUBLE_EQ(Value::i16(-3).as_float(), -3.0);
  EXPECT_FLOAT_EQ(static_cast<float>(Value::f32(0.1f).as_float()), 0.1f);
  EXPECT_TRUE(Value::u16(1).is_integer());
  EXPECT_FALSE(Value::f64(1).is_integer());
  try {
    Value::string("x").as_int();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("string"), std::string::npos) << e.what();
  }
}

TEST(Value, Display) {
  EXPECT_EQ(Value::string("a\"b\n").to_display(), "\"a\\\"b\\n\"");
  EXPECT_EQ(Value::i8(-3).to_display(), "-3");
  EXPECT_EQ(Value::boolean(false).to_display(), "false");
  EXPECT_EQ(Value::f32(0.5f).to_display(), "0.5");
  Value::Array items;
  for (int i = 0; i < 5; ++i) items.push_back(Value::u32(i));
  EXPECT_EQ(Value::array(ValueType::U32, items).to_display(2), "[0, 1, ... (5 items)]");
  EXPECT_EQ(Value::array(ValueType::U32, {}).to_display(), "[]");
}

TEST(File, TypedLookups) {
  ScratchDir dir;
  Writer w;
  w.set("general.architecture", Value::string("llama"));
  w.set("llama.context_length", Value::u32(4096));
  w.set("llama.rope.freq_base", Value::f32(10000.0f));
  w.set("flag", Value::boolean(true));
  w.write(dir / "m.gguf");
  const File f = File::open(dir / "m.gguf");
  EXPECT_EQ(f.architecture(), "llama");
  EXPECT_EQ(f.arch_key("context_length"), "llama.context_length");
  EXPECT_EQ(f.get_int(f.arch_key("context_length"), 0), 4096);
  EXPECT_EQ(f.get_int("missing", 7), 7);
  EXPECT_DOUBLE_EQ(f.get_float("llama.rope.freq_base", 0), 10000.0);
  EXPECT_DOUBLE_EQ(f.get_float("llama.context_length", 0), 4096.0);
  EXPECT_TRUE(f.get_bool("flag", false));
  EXPECT_EQ(f.get_string("missing", "dflt"), "dflt");
  EXPECT_THROW(f.get_int("general.architecture", 0), Error);
  EXPECT_THROW(f.get_string("flag"), Error);
  EXPECT_THROW(f.get_bool("llama.context_length", false), Error);
  EXPECT_EQ(f.tensor("nope"), nullptr);
  try {
    f.get_int("general.architecture", 0);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("general.architecture"), std::string::npos) << e.what();
  }
  Writer no_arch;
  no_arch.write(dir / "n.gguf");
  EXPECT_THROW(File::open(dir / "n.gguf").architecture(), Error);
}

TEST(File, OpenErrorsNameThePath) {
  ScratchDir dir;
  try {
    File::open(dir / "absent.gguf");
    FAIL() << "opened a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.gguf"), std::string::npos);
  }
  EXPECT_THROW(File::open(dir.path()), Error);
  { std::FILE* fp = std::fopen((dir / "empty.gguf").c_str(), "wb"); std::fclose(fp); }
  EXPECT_THROW(File::open(dir / "empty.gguf"), FormatError);
  const File none;
  EXPECT_TRUE(none.metadata().empty());
  EXPECT_TRUE(none.tensors().empty());
}

}  // namespace
}  // namespace kiln::gguf
