#pragma once
// An in-process `kiln serve` on an ephemeral loopback port over a private
// temporary store, a client for it, and tiny GGUF models to upload.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gguf/gguf.h"
#include "server/api_server.h"
#include "store/digest.h"

namespace kiln::server_test {

namespace fs = std::filesystem;
using nlohmann::json;

// A small llama-shaped model: F32 tensors, 16 tokens (more than the 5 items
// /api/show keeps without verbose), optional chat template.
struct TinyGguf {
  std::string arch = "llama";
  int64_t context_length = 256;
  std::string chat_template;
  uint32_t tokens = 16;
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensors = {
      {"token_embd.weight", {32, 16}}, {"blk.0.attn_norm.weight", {32}}, {"output_norm.weight", {32}}};

  uint64_t parameter_count() const {
    uint64_t n = 0;
    for (const auto& [name, shape] : tensors) {
      uint64_t e = 1;
      for (int64_t d : shape) e *= static_cast<uint64_t>(d);
      n += e;
    }
    return n;
  }

  void write(const fs::path& path) const {
    gguf::Writer w;
    w.set("general.architecture", gguf::Value::string(arch));
    w.set("general.name", gguf::Value::string("tiny"));
    w.set("general.file_type", gguf::Value::u32(0));  // all F32
    w.set(arch + ".context_length", gguf::Value::u32(static_cast<uint32_t>(context_length)));
    w.set(arch + ".embedding_length", gguf::Value::u32(32));
    w.set(arch + ".block_count", gguf::Value::u32(1));
    w.set(arch + ".attention.layer_norm_rms_epsilon", gguf::Value::f32(1e-6f));
    w.set("tokenizer.ggml.model", gguf::Value::string("llama"));
    gguf::Value::Array toks;
    for (uint32_t i = 0; i < tokens; ++i) toks.push_back(gguf::Value::string("tok" + std::to_string(i)));
    w.set("tokenizer.ggml.tokens", gguf::Value::array(gguf::ValueType::STRING, std::move(toks)));
    w.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(1));
    if (!chat_template.empty()) w.set("tokenizer.chat_template", gguf::Value::string(chat_template));
    for (const auto& [name, shape] : tensors) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      std::vector<uint8_t> bytes(static_cast<size_t>(n) * 4);
      for (int64_t i = 0; i < n; ++i) {
        const float v = static_cast<float>((i * 7919) % 200 - 100) / 100.0f;
        std::memcpy(bytes.data() + 4 * i, &v, 4);
      }
      w.add_tensor(name, GgmlType::F32, shape, bytes);
    }
    w.write(path);
  }
};

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TestServer {
 public:
  explicit TestServer(const std::string& tag, size_t max_body = size_t{16} << 20, std::string origins = {}) {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("kiln-server-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    server::ServeOptions o;
    o.http.address = server::parse_listen_address("127.0.0.1:0");
    o.http.origins = std::move(origins);
    o.http.max_body_bytes = max_body;
    o.http.threads = 8;
    o.http.log = [this](const std::string& line) {
      std::lock_guard lock(log_mutex_);
      log_.push_back(line);
    };
    o.models_root = dir_ / "models";
    api_ = std::make_unique<server::ApiServer>(std::move(o));
    api_->http().start();
  }
  ~TestServer() {
    api_->http().stop();
    api_.reset();
    fs::remove_all(dir_);
  }

  int port() const { return api_->http().port(); }
  server::ApiServer& api() { return *api_; }
  const fs::path& dir() const { return dir_; }
  fs::path store() const { return dir_ / "models"; }
  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port());
    c->set_read_timeout(30);
    return c;
  }
  std::vector<std::string> log() {
    std::lock_guard lock(log_mutex_);
    return log_;
  }

  // Writes `model` into the test folder, uploads it as a blob and returns its digest.
  std::string upload(const TinyGguf& model, const std::string& file = "tiny.gguf") {
    const fs::path p = dir_ / file;
    model.write(p);
    const std::string digest = store::sha256_of_file(p).str();
    const std::string bytes = slurp(p);
    auto res = client()->Post("/api/blobs/" + digest, bytes, "application/octet-stream");
    EXPECT_TRUE(res && (res->status == 201 || res->status == 200)) << (res ? res->body : "no response");
    return digest;
  }

  // Uploads and creates `name` from `model` with extra create fields; returns the response.
  httplib::Result create(const std::string& name, const TinyGguf& model, json extra = json::object()) {
    const std::string digest = upload(model);
    json body = {{"model", name}, {"files", {{"tiny.gguf", digest}}}, {"stream", false}};
    for (auto& [k, v] : extra.items()) body[k] = v;
    return client()->Post("/api/create", body.dump(), "application/json");
  }

 private:
  fs::path dir_;
  std::unique_ptr<server::ApiServer> api_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

inline json body_json(const httplib::Result& r) {
  if (!r) return json();
  return json::parse(r->body, nullptr, false);
}

// The "error" text of an Ollama error answer ("" when there is none).
inline std::string error_of(const httplib::Result& r) {
  const json j = body_json(r);
  return j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : "";
}

}  // namespace kiln::server_test
