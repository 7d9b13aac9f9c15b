#pragma once
// Helpers for tests that run the kiln binary: a private store per test
// (KILN_MODELS), small GGUF models written with gguf::Writer, and a runner
// that captures output and exit status.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gguf/gguf.h"

namespace kiln::cli_test {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  bool signaled = false;
  std::string out;  // stdout
  std::string err;  // stderr
};

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `kiln args...` in `cwd` with KILN_MODELS=store.
inline RunResult run_kiln(const fs::path& store, const std::vector<std::string>& args, const fs::path& cwd = {}) {
  static int counter = 0;
  const fs::path base = fs::temp_directory_path() / ("kiln-cli-run-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::string cmd;
  if (!cwd.empty()) cmd.append("cd ").append(shell_quote(cwd.string())).append(" && ");
  // exec: the shell becomes kiln, so the status below is kiln's own.
  cmd.append("KILN_MODELS=").append(shell_quote(store.string())).append(" exec ").append(shell_quote(KILN_BINARY));
  for (const auto& a : args) cmd.append(" ").append(shell_quote(a));
  cmd.append(" >").append(shell_quote(base.string() + ".out")).append(" 2>").append(shell_quote(base.string() + ".err"));
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.signaled = WIFSIGNALED(status);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(base.string() + ".out");
  r.err = slurp(base.string() + ".err");
  fs::remove(base.string() + ".out");
  fs::remove(base.string() + ".err");
  return r;
}

struct TensorSpec {
  std::string name;
  GgmlType type;
  std::vector<int64_t> shape;
};

struct TinyModel {
  std::string arch = "llama";
  uint32_t file_type = 1;  // llama.cpp's MOSTLY_F16
  int64_t context_length = 256;
  int64_t embedding_length = 32;
  std::string chat_template;  // empty: no tokenizer.chat_template key
  std::vector<TensorSpec> tensors = {
      {"token_embd.weight", GgmlType::F16, {32, 16}},
      {"blk.0.attn_norm.weight", GgmlType::F32, {32}},
      {"blk.0.attn_q.weight", GgmlType::F16, {32, 8}},
      {"output_norm.weight", GgmlType::F32, {32}},
  };

  int64_t parameter_count() const {
    int64_t n = 0;
    for (const auto& t : tensors) {
      int64_t e = 1;
      for (int64_t d : t.shape) e *= d;
      n += e;
    }
    return n;
  }

  // Writes the model with small random values (every type here is F32/F16).
  void write(const fs::path& path, uint32_t seed = 1) const {
    gguf::Writer w;
    w.set("general.architecture", gguf::Value::string(arch));
    w.set("general.name", gguf::Value::string("tiny " + arch));
    w.set("general.file_type", gguf::Value::u32(file_type));
    w.set(arch + ".context_length", gguf::Value::u32(static_cast<uint32_t>(context_length)));
    w.set(arch + ".embedding_length", gguf::Value::u32(static_cast<uint32_t>(embedding_length)));
    w.set(arch + ".block_count", gguf::Value::u32(1));
    gguf::Value::Array tokens;
    for (int i = 0; i < 16; ++i) tokens.push_back(gguf::Value::string("tok" + std::to_string(i)));
    w.set("tokenizer.ggml.model", gguf::Value::string("llama"));
    w.set("tokenizer.ggml.tokens", gguf::Value::array(gguf::ValueType::STRING, std::move(tokens)));
    if (!chat_template.empty()) w.set("tokenizer.chat_template", gguf::Value::string(chat_template));
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (const auto& t : tensors) {
      int64_t n = 1;
      for (int64_t d : t.shape) n *= d;
      std::vector<uint8_t> bytes(row_bytes(t.type, n));
      if (t.type == GgmlType::F32) {
        for (int64_t i = 0; i < n; ++i) {
          const float v = dist(rng);
          std::memcpy(bytes.data() + 4 * i, &v, 4);
        }
      } else {
        // F16 values in [-1, 1): sign, exponent 14 (0.5..1) and random mantissa bits.
        for (int64_t i = 0; i < n; ++i) {
          const uint16_t h = static_cast<uint16_t>(((rng() & 1) << 15) | (14 << 10) | (rng() & 0x3ff));
          std::memcpy(bytes.data() + 2 * i, &h, 2);
        }
      }
      w.add_tensor(t.name, t.type, t.shape, bytes);
    }
    w.write(path);
  }
};

// A fresh directory holding a store and the test's files.
class StoreDir {
 public:
  explicit StoreDir(const std::string& tag)
      : dir_(fs::temp_directory_path() / ("kiln-cli-" + tag + "-" + std::to_string(::getpid()))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~StoreDir() { fs::remove_all(dir_); }
  const fs::path& dir() const { return dir_; }
  fs::path store() const { return dir_ / "models"; }
  fs::path file(const std::string& name) const { return dir_ / name; }
  void write_file(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  RunResult kiln(const std::vector<std::string>& args) const { return run_kiln(store(), args, dir_); }
  size_t blob_count() const {
    size_t n = 0;
    std::error_code ec;
    for (fs::directory_iterator it(store() / "blobs", ec), end; !ec && it != end; it.increment(ec))
      n += it->path().filename().string().rfind("sha256-", 0) == 0;
    return n;
  }

 private:
  fs::path dir_;
};

}  // namespace kiln::cli_test
