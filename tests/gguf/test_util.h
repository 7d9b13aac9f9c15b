#pragma once
// Helpers shared by the gguf tests: a scratch directory and deep Value equality.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "gguf/gguf.h"

namespace kiln::gguf::testing {

// A fresh directory under the system temp dir, removed at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("kiln-gguf-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A real test model: $KILN_TEST_MODELS/<name> (default ~/.cache/kiln/models),
// falling back to /tmp/models where the development machine keeps them.
inline std::filesystem::path model_path(const std::string& name) {
  std::filesystem::path dir = "/tmp/models";
  if (const char* env = std::getenv("KILN_TEST_MODELS"); env && *env) {
    dir = env;
  } else if (const char* home = std::getenv("HOME")) {
    dir = std::filesystem::path(home) / ".cache/kiln/models";
  }
  auto p = dir / name;
  if (!std::filesystem::exists(p) && std::filesystem::exists("/tmp/models/" + name)) p = "/tmp/models/" + name;
  return p;
}

// Exact equality: same type, same element type, same bits for floats.
inline ::testing::AssertionResult same_value(const Value& a, const Value& b) {
  if (a.type() != b.type())
    return ::testing::AssertionFailure() << "type " << value_type_name(a.type()) << " vs " << value_type_name(b.type());
  switch (a.type()) {
    case ValueType::STRING:
      if (a.as_string() != b.as_string()) return ::testing::AssertionFailure() << a.to_display() << " vs " << b.to_display();
      break;
    case ValueType::BOOL:
      if (a.as_bool() != b.as_bool()) return ::testing::AssertionFailure() << "bool differs";
      break;
    case ValueType::F32:
    case ValueType::F64:
      if (a.as_float() != b.as_float()) return ::testing::AssertionFailure() << a.to_display() << " vs " << b.to_display();
      break;
    case ValueType::ARRAY:
      if (a.elem_type() != b.elem_type()) return ::testing::AssertionFailure() << "element types differ";
      if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes " << a.size() << " vs " << b.size();
      for (size_t i = 0; i < a.size(); ++i)
        if (auto r = same_value(a[i], b[i]); !r) return r << " at item " << i;
      break;
    case ValueType::I8: case ValueType::I16: case ValueType::I32: case ValueType::I64:
      if (a.as_int() != b.as_int()) return ::testing::AssertionFailure() << a.as_int() << " vs " << b.as_int();
      break;
    default:
      if (a.as_uint() != b.as_uint()) return ::testing::AssertionFailure() << a.as_uint() << " vs " << b.as_uint();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace kiln::gguf::testing
