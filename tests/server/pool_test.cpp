// ModelPool on the real gemma 3 270M model: loading once, sharing, keep_alive
// expiry, unload, least-recently-used eviction by model count and by memory,
// waiting for busy models (and giving up with 503), reloads for other runner
// options, and what ps() reports. Contexts are small and keep_alives short so
// the whole suite takes a few seconds.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/metrics.h"
#include "pool_fixture.h"
#include "server/http_error.h"
#include "server/model_pool.h"

using namespace kiln;
using namespace kiln::server;
using namespace std::chrono;
using kiln::pool_test::GemmaStore;

namespace {

engine::Options runner(int num_ctx = 256) {
  engine::Options o;
  o.num_ctx = num_ctx;
  o.num_thread = 2;
  o.num_batch = 64;
  return o;
}

PoolConfig small_pool(int max_loaded = 3) {
  PoolConfig c;
  c.max_loaded = max_loaded;
  c.num_parallel = 1;
  c.memory_budget_bytes = uint64_t(8) << 30;
  c.max_wait = milliseconds(300);
  return c;
}

KeepAlive keep(nanoseconds d) { return KeepAlive{d}; }

// Waits (up to 5 s) until ps() lists `n` models.
bool wait_loaded(const ModelPool& pool, size_t n) {
  for (int i = 0; i < 500; ++i) {
    if (pool.ps().size() == n) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const HttpError& e) {
    return e.status();
  }
  return 0;
}

}  // namespace

TEST(ModelPool, LoadsOnceSharesAndExpires) {
  REQUIRE_GEMMA();
  GemmaStore s("expire", {"gemma:270m"});
  metrics::Registry registry;
  PoolConfig cfg = small_pool();
  cfg.metrics = &registry;
  ModelPool pool(s.store(), cfg);
  EXPECT_TRUE(pool.ps().empty());
  {
    ModelPool::Lease a = pool.acquire("gemma:270m", runner(), keep(milliseconds(200)));
    EXPECT_GT(a.load_ns(), 0);
    EXPECT_EQ(a->name, "gemma:270m");
    EXPECT_EQ(a->context_length, 256);
    EXPECT_TRUE(a->digest.starts_with("sha256:"));
    ASSERT_TRUE(a->chat_template) << "gemma3 falls back to kiln's built-in template";
    EXPECT_FALSE(a->thinking);
    EXPECT_GT(a->size_bytes, uint64_t(200) << 20) << "at least the 253 MB file";
    ModelPool::Lease b = pool.acquire("GEMMA:270M", runner(), std::nullopt);  // names ignore case
    EXPECT_EQ(b.load_ns(), 0);
    EXPECT_EQ(&*a, &*b);
    const auto ps = pool.ps();
    ASSERT_EQ(ps.size(), 1u);
    EXPECT_EQ(ps[0].name, "gemma:270m");
    EXPECT_EQ(ps[0].context_length, 256);
    EXPECT_EQ(ps[0].details["family"], "gemma3");
    ASSERT_TRUE(ps[0].expires_at) << "in use: now + keep_alive";
    EXPECT_NE(registry.render().find("kiln_models_loaded 1"), std::string::npos);
  }
  // The last lease (b, no keep_alive of its own) ended: the latest request's
  // keep_alive (a's 200ms) holds.
  auto ps = pool.ps();
  ASSERT_EQ(ps.size(), 1u);
  ASSERT_TRUE(ps[0].expires_at);
  EXPECT_LE(*ps[0].expires_at, system_clock::now() + milliseconds(250));
  EXPECT_TRUE(wait_loaded(pool, 0)) << "expired after 200ms";
  EXPECT_NE(registry.render().find("kiln_models_loaded 0"), std::string::npos);
}

TEST(ModelPool, KeepAliveZeroUnloadsWhenIdleNegativeKeepsForever) {
  REQUIRE_GEMMA();
  GemmaStore s("zero", {"a:latest", "b:latest"});
  ModelPool pool(s.store(), small_pool());
  { auto l = pool.acquire("a", runner(), keep(nanoseconds(0))); }
  EXPECT_TRUE(wait_loaded(pool, 0));
  { auto l = pool.acquire("b", runner(), keep(nanoseconds(-1))); }
  std::this_thread::sleep_for(milliseconds(100));
  const auto ps = pool.ps();
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].name, "b:latest");
  EXPECT_FALSE(ps[0].expires_at) << "kept forever";
}

TEST(ModelPool, UnloadWaitsForTheLastLease) {
  REQUIRE_GEMMA();
  GemmaStore s("unload", {"a:latest"});
  ModelPool pool(s.store(), small_pool());
  EXPECT_FALSE(pool.unload("a")) << "not loaded";
  auto lease = std::make_unique<ModelPool::Lease>(pool.acquire("a", runner(), keep(minutes(5))));
  EXPECT_TRUE(pool.unload("a:latest"));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(pool.ps().size(), 1u) << "still leased";
  EXPECT_TRUE((*lease)->scheduler != nullptr);
  lease.reset();
  EXPECT_TRUE(wait_loaded(pool, 0));
}

TEST(ModelPool, EvictsTheLeastRecentlyUsedIdleModelAtTheModelLimit) {
  REQUIRE_GEMMA();
  GemmaStore s("lru", {"a:latest", "b:latest", "c:latest"});
  ModelPool pool(s.store(), small_pool(2));
  { auto l = pool.acquire("a", runner(), keep(minutes(5))); }
  { auto l = pool.acquire("b", runner(), keep(minutes(5))); }
  { auto l = pool.acquire("a", runner(), keep(minutes(5))); }  // a is now the most recent
  { auto l = pool.acquire("c", runner(), keep(minutes(5))); }
  std::vector<std::string> names;
  for (const auto& e : pool.ps()) names.push_back(e.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a:latest", "c:latest"}));
}

TEST(ModelPool, BusyModelsMakeOthersWaitThenFailWith503) {
  REQUIRE_GEMMA();
  GemmaStore s("busy", {"a:latest", "b:latest"});
  ModelPool pool(s.store(), small_pool(1));
  auto a = std::make_unique<ModelPool::Lease>(pool.acquire("a", runner(), keep(minutes(5))));
  const auto t0 = steady_clock::now();
  try {
    pool.acquire("b", runner(), std::nullopt);
    FAIL() << "b should not fit while a is leased";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 503);
    EXPECT_NE(std::string(e.what()).find("server busy"), std::string::npos) << e.what();
  }
  EXPECT_GE(steady_clock::now() - t0, milliseconds(290)) << "waited max_wait first";

  // A waiter gets its model as soon as the lease ends.
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto b = pool.acquire("b", runner(), std::nullopt);
    got = b->name == "b:latest";
  });
  std::this_thread::sleep_for(milliseconds(100));
  a.reset();
  waiter.join();
  EXPECT_TRUE(got.load());
}

TEST(ModelPool, MemoryBudgetEvictsAndRefusesWhatNeverFits) {
  REQUIRE_GEMMA();
  GemmaStore s("budget", {"a:latest", "b:latest"});
  uint64_t one = 0;
  {
    ModelPool probe(s.store(), small_pool());
    one = probe.acquire("a", runner(), std::nullopt)->size_bytes;
  }
  PoolConfig cfg = small_pool(3);
  cfg.memory_budget_bytes = one + one / 2;  // room for one model
  ModelPool pool(s.store(), cfg);
  { auto l = pool.acquire("a", runner(), keep(minutes(5))); }
  { auto l = pool.acquire("b", runner(), keep(minutes(5))); }
  const auto ps = pool.ps();
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].name, "b:latest");

  cfg.memory_budget_bytes = one / 2;
  ModelPool tiny(s.store(), cfg);
  try {
    tiny.acquire("a", runner(), std::nullopt);
    FAIL() << "a model larger than the budget loaded";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 500);
    EXPECT_NE(std::string(e.what()).find("more system memory"), std::string::npos) << e.what();
  }
}

TEST(ModelPool, LargerContextReloadsSmallerOneReuses) {
  REQUIRE_GEMMA();
  GemmaStore s("reload", {"a:latest"});
  ModelPool pool(s.store(), small_pool());
  { auto l = pool.acquire("a", runner(256), std::nullopt); }
  {
    auto l = pool.acquire("a", runner(512), std::nullopt);
    EXPECT_GT(l.load_ns(), 0) << "reloaded for the larger context";
    EXPECT_EQ(l->context_length, 512);
  }
  {
    auto l = pool.acquire("a", runner(128), std::nullopt);
    EXPECT_EQ(l.load_ns(), 0) << "fits the loaded context";
    EXPECT_EQ(l->context_length, 512);
  }
  engine::Options other = runner(128);
  other.num_batch = 32;
  auto l = pool.acquire("a", other, std::nullopt);
  EXPECT_GT(l.load_ns(), 0) << "another num_batch reloads";
  EXPECT_EQ(pool.ps().size(), 1u);
}

TEST(ModelPool, ConcurrentRequestsLoadAModelOnce) {
  REQUIRE_GEMMA();
  GemmaStore s("once", {"a:latest"});
  ModelPool pool(s.store(), small_pool());
  std::atomic<int> loads{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&] {
      auto l = pool.acquire("a", runner(), std::nullopt);
      if (l.load_ns() > 0) ++loads;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(loads.load(), 1);
}

TEST(ModelPool, ClientErrors) {
  REQUIRE_GEMMA();
  GemmaStore s("errors", {"a:latest"});
  ModelPool pool(s.store(), small_pool());
  EXPECT_EQ(status_of([&] { pool.acquire("nope", runner(), std::nullopt); }), 404);
  try {
    pool.acquire("nope", runner(), std::nullopt);
  } catch (const HttpError& e) {
    EXPECT_STREQ(e.what(), "model 'nope' not found");
  }
  EXPECT_EQ(status_of([&] { pool.acquire("bad name!", runner(), std::nullopt); }), 400);
  EXPECT_EQ(status_of([&] { pool.acquire("a", runner(1 << 30), std::nullopt); }), 400);
  EXPECT_TRUE(pool.ps().empty());
}

TEST(ModelPool, LeasedModelGenerates) {
  REQUIRE_GEMMA();
  GemmaStore s("generate", {"a:latest"});
  ModelPool pool(s.store(), small_pool());
  auto l = pool.acquire("a", runner(), std::nullopt);
  engine::GenerateParams p;
  p.prompt = l->scheduler->engine().tokenizer().encode("The sky is", false, true);
  p.prompt.insert(p.prompt.begin(), l->scheduler->engine().tokenizer().bos());
  p.options = runner();
  p.options.num_predict = 3;
  p.options.temperature = 0;
  auto h = l->scheduler->submit(std::move(p));
  std::optional<engine::Event> done;
  for (int i = 0; i < 200 && !done; ++i)
    if (auto e = h->next(milliseconds(100)); e && e->kind != engine::Event::Kind::Text) done = e;
  ASSERT_TRUE(done);
  EXPECT_EQ(done->kind, engine::Event::Kind::Done) << done->error;
  EXPECT_EQ(done->timings.eval_count, 3);
}
