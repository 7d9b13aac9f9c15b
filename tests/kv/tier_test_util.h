#pragma once
// Helpers of the KV tier tests: a temporary directory per test, a disk tier
// configuration, and checks that a sequence's K/V are the ones its tokens
// produce (so a block restored for the wrong prefix is caught).
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>
#include <random>
#include <string>

#include "kv_test_util.h"

namespace kiln::kv::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("kiln-kv-tier-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline DiskTierConfig disk_config(const std::filesystem::path& dir, uint64_t budget) {
  DiskTierConfig c;
  c.directory = dir.string();
  c.budget_bytes = budget;
  c.fsync = false;  // tests check logic, not durability; the bench measures fsync
  return c;
}

inline std::vector<Token> token_range(int n, Token start) {
  std::vector<Token> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

// Every position a layer holds for the sequence equals what its tokens give.
inline ::testing::AssertionResult holds_expected_kv(const KvCache& cache, SeqId id) {
  const std::vector<uint64_t> fp = prefix_fingerprints(cache.tokens(id));
  for (int g = 0; g < cache.num_groups(); ++g) {
    const LayerGroupConfig& gc = cache.config().groups[size_t(g)];
    const int kw = gc.n_kv_heads * gc.k_head_dim, vw = gc.n_kv_heads * gc.v_head_dim;
    const int64_t begin = cache.first_held_position(id, g), end = cache.computed(id);
    if (end <= begin) continue;
    std::vector<float> k(size_t((end - begin) * kw)), v(size_t((end - begin) * vw));
    std::vector<float> ek(static_cast<size_t>(kw)), ev(static_cast<size_t>(vw));
    for (int layer : gc.layers) {
      cache.gather(id, layer, begin, end, k.data(), v.data());
      for (int64_t pos = begin; pos < end; ++pos) {
        kv_row(fp[size_t(pos)], layer, 0, kw, ek.data());
        kv_row(fp[size_t(pos)], layer, 1, vw, ev.data());
        stored_row(cache.config().type, cache.layout(g).k_rotation, gc.n_kv_heads, gc.k_head_dim, ek.data());
        stored_row(cache.config().type, cache.layout(g).v_rotation, gc.n_kv_heads, gc.v_head_dim, ev.data());
        if (!std::equal(ek.begin(), ek.end(), k.begin() + (pos - begin) * kw) ||
            !std::equal(ev.begin(), ev.end(), v.begin() + (pos - begin) * vw))
          return ::testing::AssertionFailure() << "layer " << layer << " position " << pos << " differs";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// A request: reuse what the tiers have, compute the rest, keep the sequence.
inline SeqId run_prompt(KvCache& cache, std::span<const Token> prompt, int64_t* reused = nullptr) {
  const SeqId id = cache.create_sequence();
  const int64_t n = cache.attach_prefix(id, prompt, int64_t(prompt.size()) - 1);
  if (reused) *reused = n;
  append_computed(cache, id, prompt.subspan(size_t(n)));
  return id;
}

inline std::vector<std::filesystem::path> entry_files(const std::string& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".kvb") out.push_back(e.path());
  return out;
}

}  // namespace kiln::kv::testing
