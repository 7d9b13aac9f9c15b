// GET /api/ps: Ollama's ProcessModelResponse for each loaded model (name,
// model, size, digest as /api/tags writes it, details, expires_at in RFC 3339
// with the local offset, size_vram, context_length), latest expiry first.
#include <gtest/gtest.h>

#include <regex>

#include "pool_fixture.h"

using namespace kiln;
using namespace kiln::pool_test;
using nlohmann::json;

TEST(PsRoute, EmptyWhenNothingIsLoaded) {
  REQUIRE_GEMMA();
  PoolServer s("ps-empty", {"gemma:270m"});
  auto r = s.client()->Get("/api/ps");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body), json::parse(R"({"models":[]})"));
}

TEST(PsRoute, ListsLoadedModelsLatestExpiryFirst) {
  REQUIRE_GEMMA();
  PoolServer s("ps-list", {"gemma:270m", "other:latest"});
  server::ModelPool& pool = s.api().models();
  { auto l = pool.acquire("other", small_runner(), server::KeepAlive{std::chrono::minutes(1)}); }
  { auto l = pool.acquire("gemma:270m", small_runner(), server::KeepAlive{std::chrono::nanoseconds(-1)}); }

  auto r = s.client()->Get("/api/ps");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  ASSERT_EQ(body["models"].size(), 2u) << r->body;
  const json& forever = body["models"][0];
  const json& minute = body["models"][1];
  EXPECT_EQ(forever["name"], "gemma:270m");
  EXPECT_EQ(forever["model"], "gemma:270m");
  EXPECT_EQ(minute["name"], "other:latest");

  // The keys in Ollama's order.
  std::vector<std::string> keys;
  for (auto it = forever.begin(); it != forever.end(); ++it) keys.push_back(it.key());
  std::vector<std::string> ollama = {"name",       "model",     "size",          "digest",
                                     "details",    "expires_at", "size_vram",    "context_length"};
  std::sort(keys.begin(), keys.end());
  std::sort(ollama.begin(), ollama.end());
  EXPECT_EQ(keys, ollama);

  const auto stored = s.store().store().get(store::ModelName::parse("gemma:270m"));
  EXPECT_EQ(forever["digest"], stored.digest.hex());
  EXPECT_GT(forever["size"].get<uint64_t>(), uint64_t(200) << 20);
  EXPECT_EQ(forever["size_vram"], 0);
  EXPECT_EQ(forever["context_length"], 256);
  EXPECT_EQ(forever["details"]["family"], "gemma3");
  EXPECT_EQ(forever["details"]["format"], "gguf");
  const std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d))");
  EXPECT_TRUE(std::regex_match(minute["expires_at"].get<std::string>(), rfc3339)) << minute["expires_at"];
  EXPECT_TRUE(forever["expires_at"].get<std::string>().starts_with("2262-")) << "forever: the latest time kept";
}

TEST(PsRoute, GenerateWithKeepAliveZeroUnloads) {
  REQUIRE_GEMMA();
  PoolServer s("ps-stop", {"gemma:270m"});
  { auto l = s.api().models().acquire("gemma:270m", small_runner(), std::nullopt); }
  ASSERT_EQ(s.api().models().ps().size(), 1u);
  auto r = s.client()->Post("/api/generate", R"({"model":"gemma:270m","keep_alive":0})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  bool gone = false;
  for (int i = 0; i < 300 && !gone; ++i) {
    gone = json::parse(s.client()->Get("/api/ps")->body)["models"].empty();
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone);
}
