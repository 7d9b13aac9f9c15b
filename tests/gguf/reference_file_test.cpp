// Reads tests/fixtures/gguf/valid/gguf_py_writer.gguf, written by the `gguf`
// Python package's GGUFWriter (tools/make_valid_gguf.py, whose inputs are
// mirrored here): kiln must decode another implementation's file exactly.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "gguf/gguf.h"
#include "test_util.h"

namespace kiln::gguf {
namespace {

TEST(ReferenceFile, DecodesGgufPyWriterOutput) {
  const File f = File::open(std::filesystem::path(KILN_FIXTURES) / "gguf" / "valid" / "gguf_py_writer.gguf");
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.architecture(), "testarch");

  EXPECT_EQ(f.find("t.u8")->type(), ValueType::U8);
  EXPECT_EQ(f.get_int("t.u8", 0), 200);
  EXPECT_EQ(f.find("t.i8")->type(), ValueType::I8);
  EXPECT_EQ(f.get_int("t.i8", 0), -100);
  EXPECT_EQ(f.find("t.u16")->type(), ValueType::U16);
  EXPECT_EQ(f.get_int("t.u16", 0), 60000);
  EXPECT_EQ(f.find("t.i16")->type(), ValueType::I16);
  EXPECT_EQ(f.get_int("t.i16", 0), -30000);
  EXPECT_EQ(f.find("t.u32")->type(), ValueType::U32);
  EXPECT_EQ(f.get_int("t.u32", 0), 4000000000);
  EXPECT_EQ(f.find("t.i32")->type(), ValueType::I32);
  EXPECT_EQ(f.get_int("t.i32", 0), -2000000000);
  EXPECT_EQ(f.find("t.u64")->type(), ValueType::U64);
  EXPECT_EQ(f.find("t.u64")->as_uint(), 18000000000000000000ull);
  EXPECT_THROW(f.get_int("t.u64", 0), Error);  // does not fit int64
  EXPECT_EQ(f.find("t.i64")->type(), ValueType::I64);
  EXPECT_EQ(f.get_int("t.i64", 0), -9000000000000000000ll);
  EXPECT_EQ(f.find("t.f32")->type(), ValueType::F32);
  EXPECT_EQ(f.get_float("t.f32", 0), 0.15625);
  EXPECT_EQ(f.find("t.f64")->type(), ValueType::F64);
  EXPECT_EQ(f.get_float("t.f64", 0), -2.5e-300);
  EXPECT_TRUE(f.get_bool("t.bool", false));
  EXPECT_EQ(f.get_string("t.string"), "kiln \xe2\x9c\x93");

  const Value& i32s = *f.find("t.arr_i32");
  EXPECT_EQ(i32s.elem_type(), ValueType::I32);
  ASSERT_EQ(i32s.size(), 3u);
  EXPECT_EQ(i32s[1].as_int(), -2);
  const Value& strs = *f.find("t.arr_str");
  EXPECT_EQ(strs.elem_type(), ValueType::STRING);
  ASSERT_EQ(strs.size(), 3u);
  EXPECT_EQ(strs[1].as_string(), "bc");
  EXPECT_EQ(strs[2].as_string(), "");
  EXPECT_EQ(f.find("t.arr_f32")->elem_type(), ValueType::F32);
  EXPECT_EQ((*f.find("t.arr_f32"))[1].as_float(), -1.0);
  const Value& nested = *f.find("t.arr_nested");
  EXPECT_EQ(nested.elem_type(), ValueType::ARRAY);
  ASSERT_EQ(nested.size(), 2u);
  EXPECT_EQ(nested[0].elem_type(), ValueType::I32);
  EXPECT_EQ(nested[0].size(), 2u);
  EXPECT_EQ(nested[1][0].as_int(), 3);
  EXPECT_EQ(f.find("t.arr_u8")->elem_type(), ValueType::U8);
  EXPECT_EQ((*f.find("t.arr_u8"))[2].as_int(), 9);

  ASSERT_EQ(f.tensors().size(), 3u);
  const TensorInfo* w = f.tensor("f32.w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->type, GgmlType::F32);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{4, 3}));  // numpy (3, 4) is ne = {4, 3}
  EXPECT_EQ(w->nbytes, 48u);
  float vals[12];
  std::memcpy(vals, w->data, sizeof vals);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(vals[i], static_cast<float>(i));
  const TensorInfo* h = f.tensor("f16.w");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->type, GgmlType::F16);
  EXPECT_EQ(h->offset, 64u);
  const TensorInfo* q = f.tensor("q8.w");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, GgmlType::Q8_0);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{32, 2}));
  EXPECT_EQ(q->nbytes, 68u);
  EXPECT_EQ(q->offset, 128u);
  for (int i = 0; i < 68; ++i) EXPECT_EQ(q->data[i], i);
}

// Feeding a parsed file back through the Writer must reproduce it byte for
// byte: same value types, same order, and the same padding rules as the
// reference writer (gguf-py, which llama.cpp's converters use).
void expect_rewrite_is_identical(const std::filesystem::path& original) {
  const File f = File::open(original);
  Writer w(f.version());
  for (const auto& [k, v] : f.metadata()) w.set(k, v);
  for (const auto& t : f.tensors()) {
    const uint8_t* src = t.data;
    w.add_tensor(t.name, t.type, t.shape, [src](uint8_t* dst, size_t n) mutable {
      std::memcpy(dst, src, n);
      src += n;
    });
  }
  testing::ScratchDir dir;
  w.write(dir / "rewritten.gguf");
  const File again = File::open(dir / "rewritten.gguf");
  ASSERT_EQ(again.file_size(), f.file_size());
  // Compare through the mappings; report the first differing byte.
  const auto* a = f.tensors().empty() ? nullptr : f.tensors()[0].data - f.tensors()[0].offset - f.data_offset();
  const auto* b = again.tensors().empty() ? nullptr : again.tensors()[0].data - again.tensors()[0].offset - again.data_offset();
  ASSERT_NE(a, nullptr);
  const auto mismatch = std::mismatch(a, a + f.file_size(), b);
  EXPECT_EQ(mismatch.first, a + f.file_size()) << "first difference at byte " << (mismatch.first - a);
}

TEST(ReferenceFile, RewriteOfGgufPyFileIsByteIdentical) {
  expect_rewrite_is_identical(std::filesystem::path(KILN_FIXTURES) / "gguf" / "valid" / "gguf_py_writer.gguf");
}

TEST(ReferenceFile, RewriteOfGemmaIsByteIdentical) {
  const auto path = testing::model_path("gemma-3-270m-q4_k_m.gguf");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "model not found: " << path << " (set KILN_TEST_MODELS)";
  expect_rewrite_is_identical(path);
}

}  // namespace
}  // namespace kiln::gguf
