#pragma once
// A private model store holding the real gemma 3 270M test model under a few
// names, shared by the pool, /api/ps and CLI-against-server tests. Tests that
// use it skip when the model file is absent ($KILN_TEST_MODELS or
// ~/.cache/kiln/models).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/options.h"
#include "store/create.h"
#include "store/model_store.h"

namespace kiln::pool_test {

namespace fs = std::filesystem;

inline fs::path gemma_path() {
  const char* dir = std::getenv("KILN_TEST_MODELS");
  const char* home = std::getenv("HOME");
  return (dir ? fs::path(dir) : fs::path(home ? home : "/root") / ".cache/kiln/models") / "gemma-3-270m-q4_k_m.gguf";
}

#define REQUIRE_GEMMA() \
  if (!std::filesystem::exists(kiln::pool_test::gemma_path())) GTEST_SKIP() << kiln::pool_test::gemma_path() << " is absent"

// A store under /tmp with gemma stored as each of `names` (one blob, many
// manifests). Removed with the object.
class GemmaStore {
 public:
  explicit GemmaStore(const std::string& tag, const std::vector<std::string>& names,
                      const std::string& modelfile_extra = "") {
    static int counter = 0;
    root_ = fs::temp_directory_path() /
            ("kiln-pool-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(root_);
    fs::create_directories(root_);
    store_ = std::make_unique<store::ModelStore>(root_ / "models");
    for (const auto& n : names) {
      store::CreateRequest req{store::ModelName::parse(n),
                               store::Modelfile::parse("FROM " + gemma_path().string() + "\n" + modelfile_extra),
                               root_,
                               ""};
      store::create_model(*store_, req, {});
    }
  }
  ~GemmaStore() { fs::remove_all(root_); }
  store::ModelStore& store() { return *store_; }
  fs::path models_root() const { return root_ / "models"; }

 private:
  fs::path root_;
  std::unique_ptr<store::ModelStore> store_;
};

}  // namespace kiln::pool_test

#include <httplib.h>

#include "server/api_server.h"

namespace kiln::pool_test {

// An in-process `kiln serve` on an ephemeral loopback port over a GemmaStore,
// with a small pool (one sequence per model, short waits).
class PoolServer {
 public:
  PoolServer(const std::string& tag, const std::vector<std::string>& names, const std::string& modelfile_extra = "")
      : store_(tag, names, modelfile_extra) {
    server::ServeOptions o;
    o.http.address = server::parse_listen_address("127.0.0.1:0");
    o.http.threads = 8;
    o.models_root = store_.models_root();
    o.pool.num_parallel = 1;
    o.pool.max_wait = std::chrono::milliseconds(500);
    api_ = std::make_unique<server::ApiServer>(std::move(o));
    api_->http().start();
  }
  ~PoolServer() { api_.reset(); }

  int port() const { return api_->http().port(); }
  server::ApiServer& api() { return *api_; }
  GemmaStore& store() { return store_; }
  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port());
    c->set_read_timeout(60);
    return c;
  }

 private:
  GemmaStore store_;
  std::unique_ptr<server::ApiServer> api_;
};

// Runner options that load gemma quickly.
inline engine::Options small_runner() {
  engine::Options o;
  o.num_ctx = 256;
  o.num_batch = 64;
  o.num_thread = 2;
  return o;
}

}  // namespace kiln::pool_test
