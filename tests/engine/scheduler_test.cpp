// The continuous-batching Scheduler on the real Gemma 3 270M file: batched
// greedy answers equal the same prompts run alone, cancellation and
// preemption return every block, the queue bound, prompt checks, prefix
// reuse, embeddings and metrics. Skipped when the model is absent.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "core/metrics.h"
#include "engine/grammar.h"
#include "engine/json_schema.h"
#include "kv/kv_cache.h"

namespace kiln::engine {
namespace {

std::filesystem::path gemma_path() {
  const char* dir = std::getenv("KILN_TEST_MODELS");
  const char* home = std::getenv("HOME");
  return (dir ? std::filesystem::path(dir) : std::filesystem::path(home ? home : "/root") / ".cache/kiln/models") /
         "gemma-3-270m-q4_k_m.gguf";
}

#define REQUIRE_GEMMA() \
  if (!std::filesystem::exists(gemma_path())) GTEST_SKIP() << gemma_path() << " is absent"

SchedulerConfig small_config(int max_sequences = 4) {
  SchedulerConfig c;
  c.engine.threads = 2;
  c.engine.context = 256;
  c.engine.batch = 64;
  c.engine.max_sequences = max_sequences;
  c.engine.block_size = 16;
  return c;
}

// Greedy, no penalties: the sampler's choice is the engine's argmax.
Options greedy(int num_predict) {
  Options o;
  o.temperature = 0;
  o.repeat_last_n = 0;
  o.num_predict = num_predict;
  return o;
}

GenerateParams request(std::vector<int32_t> prompt, Options options) {
  GenerateParams p;
  p.prompt = std::move(prompt);
  p.options = std::move(options);
  return p;
}

struct Outcome {
  std::string content;
  int text_events = 0;
  std::vector<TokenLogprobText> logprobs;
  Event end;  // Done or Error
};

Outcome collect(RequestHandle& h, std::chrono::seconds limit = std::chrono::seconds(120)) {
  Outcome out;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<Event> e = h.next(std::chrono::milliseconds(100));
    if (!e) continue;
    if (e->kind == Event::Kind::Text) {
      out.content += e->content;
      ++out.text_events;
      for (TokenLogprobText& l : e->logprobs) out.logprobs.push_back(std::move(l));
      continue;
    }
    out.end = std::move(*e);
    return out;
  }
  ADD_FAILURE() << "no Done event within " << limit.count() << " s";
  return out;
}

std::vector<int32_t> tokens_of(const Engine& e, const std::string& text) { return e.tokenizer().encode(text, true, false); }

// The engine's greedy tokens without the end-of-generation token.
std::vector<int32_t> alone(Engine& e, const std::vector<int32_t>& prompt, int n) {
  std::vector<int32_t> out = e.generate_greedy(prompt, n);
  if (!out.empty() && e.tokenizer().is_eog(out.back())) out.pop_back();
  return out;
}

// Every block is free or cached once nothing runs.
void expect_all_blocks_returned(const Scheduler& s) {
  const kv::KvCache& cache = s.engine().cache();
  EXPECT_NO_THROW(cache.check_invariants());
  EXPECT_EQ(cache.num_sequences(), 0);
  for (int g = 0; g < cache.num_groups(); ++g) EXPECT_EQ(cache.pool(g).used_count(), 0) << "group " << g;
}

void wait_idle(const Scheduler& s) {
  for (int i = 0; i < 1000 && !s.idle(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(s.idle());
}

const std::vector<std::string> kPrompts = {
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "1, 2, 3, 4,",
    "The quick brown fox",
    "Water boils at a temperature of",
    "My favourite colour is blue because",
};

TEST(Scheduler, ConcurrentGreedyAnswersEqualEachPromptAlone) {
  REQUIRE_GEMMA();
  Scheduler s(gemma_path(), small_config(4));
  Engine ref(gemma_path(), {.threads = 2, .context = 256, .batch = 64, .block_size = 16});
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (const std::string& p : kPrompts) handles.push_back(s.submit(request(tokens_of(ref, p), greedy(8))));
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    const Outcome got = collect(*handles[i]);
    ASSERT_EQ(got.end.kind, Event::Kind::Done) << got.end.error;
    EXPECT_EQ(got.end.tokens, alone(ref, tokens_of(ref, kPrompts[i]), 8)) << kPrompts[i];
    EXPECT_EQ(got.content, ref.tokenizer().decode(got.end.tokens, true)) << kPrompts[i];
    EXPECT_EQ(got.end.timings.eval_count, int64_t(got.end.tokens.size()));
    EXPECT_EQ(got.end.timings.prompt_eval_count, int64_t(tokens_of(ref, kPrompts[i]).size()));
    EXPECT_GT(got.end.timings.total_ns, 0);
    EXPECT_GT(got.end.timings.prompt_eval_ns, 0);
  }
  wait_idle(s);
  expect_all_blocks_returned(s);
  const SchedulerStats st = s.stats();
  EXPECT_EQ(st.running, 0);
  EXPECT_GT(st.tokens_out, 0);
}

// A schema-constrained request with logprobs next to a prompt longer than
// one step's batch (prefilled in chunks between the other's decode steps).
TEST(Scheduler, GrammarLogprobsAndChunkedPrefillSideBySide) {
  REQUIRE_GEMMA();
  Scheduler s(gemma_path(), small_config(2));
  const Engine& e = s.engine();
  GenerateParams json = request(e.tokenizer().encode("<start_of_turn>user\nA cat called Tom, aged 3, as JSON."
                                                     "<end_of_turn>\n<start_of_turn>model\n",
                                                     true, true),
                                Options{});
  json.options.num_predict = 64;
  json.options.seed = 3;
  json.grammar = json_schema_grammar(nlohmann::ordered_json::parse(
      R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
          "age": {"type": "integer", "minimum": 0, "maximum": 99}}, "required": ["name", "age"]})"));
  json.top_logprobs = 3;
  std::vector<int32_t> long_prompt = tokens_of(e, "A long story about a fox, a crow and a piece of cheese. ");
  const std::vector<int32_t> text(long_prompt.begin() + 1, long_prompt.end());
  while (long_prompt.size() < 150) long_prompt.insert(long_prompt.end(), text.begin(), text.end());
  auto h_json = s.submit(json);
  auto h_long = s.submit(request(long_prompt, greedy(4)));

  const Outcome got = collect(*h_json);
  ASSERT_EQ(got.end.kind, Event::Kind::Done) << got.end.error;
  ASSERT_EQ(got.end.reason, DoneReason::Stop) << got.content;
  const auto j = nlohmann::json::parse(got.content);
  EXPECT_TRUE(j["name"].is_string());
  EXPECT_TRUE(j["age"].is_number_integer());
  // One entry per sampled token (the end token too), three alternatives each.
  EXPECT_EQ(got.logprobs.size(), got.end.tokens.size() + 1);
  for (const TokenLogprobText& l : got.logprobs) {
    EXPECT_LE(l.logprob, 0.f);
    EXPECT_EQ(l.top.size(), 3u);
  }
  const Outcome long_got = collect(*h_long);
  ASSERT_EQ(long_got.end.kind, Event::Kind::Done) << long_got.end.error;
  EXPECT_EQ(long_got.end.timings.prompt_eval_count, int64_t(long_prompt.size()));
  Engine ref(gemma_path(), {.threads = 2, .context = 256, .batch = 64, .block_size = 16});
  EXPECT_EQ(long_got.end.tokens, alone(ref, long_prompt, 4));
}

TEST(Scheduler, CancelMidGenerationFreesEveryBlock) {
  REQUIRE_GEMMA();
  Scheduler s(gemma_path(), small_config(3));
  const Engine& e = s.engine();
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (int i = 0; i < 3; ++i) handles.push_back(s.submit(request(tokens_of(e, kPrompts[size_t(i)]), greedy(200))));
  // Wait for the first token of the first request, then cancel two of them.
  std::optional<Event> first;
  for (int i = 0; i < 600 && !first; ++i) first = handles[0]->next(std::chrono::milliseconds(100));
  ASSERT_TRUE(first.has_value());
  handles[0]->cancel();
  handles[2]->cancel();
  handles[2]->cancel();  // idempotent
  for (int i : {0, 2}) {
    const Outcome got = collect(*handles[size_t(i)]);
    ASSERT_EQ(got.end.kind, Event::Kind::Done);
    EXPECT_EQ(got.end.reason, DoneReason::Cancelled);
    EXPECT_LT(got.end.tokens.size(), 200u);
  }
  EXPECT_FALSE(handles[0]->next(std::chrono::milliseconds(0)).has_value());  // nothing after Done
  handles[1]->cancel();
  EXPECT_EQ(collect(*handles[1]).end.reason, DoneReason::Cancelled);
  wait_idle(s);
  expect_all_blocks_returned(s);
}

TEST(Scheduler, FullQueueThrowsQueueFull) {
  REQUIRE_GEMMA();
  SchedulerConfig c = small_config(1);
  c.max_queue = 1;
  Scheduler s(gemma_path(), c);
  const std::vector<int32_t> prompt = tokens_of(s.engine(), kPrompts[0]);
  std::vector<std::shared_ptr<RequestHandle>> handles;
  bool full = false;
  for (int i = 0; i < 3 && !full; ++i) {
    try {
      handles.push_back(s.submit(request(prompt, greedy(100))));
    } catch (const QueueFull&) {
      full = true;
    }
  }
  EXPECT_TRUE(full);
  for (auto& h : handles) h->cancel();
  for (auto& h : handles) EXPECT_EQ(collect(*h).end.kind, Event::Kind::Done);
}

TEST(Scheduler, PromptChecksAndTheContextLimit) {
  REQUIRE_GEMMA();
  Scheduler s(gemma_path(), small_config(2));
  EXPECT_THROW(s.submit(request({}, greedy(4))), kiln::Error);
  Options small = greedy(-1);
  small.num_ctx = 16;
  EXPECT_THROW(s.submit(request(std::vector<int32_t>(16, 2), small)), kiln::Error);
  EXPECT_THROW(s.submit(request({2, -1}, greedy(4))), kiln::Error);
  Options bad = greedy(4);
  bad.top_k = -1;
  EXPECT_THROW(s.submit(request({2, 100}, bad)), kiln::Error);
  // A 12-token prompt in a 16-token context: generation ends with Length
  // once the sequence is full.
  std::vector<int32_t> prompt = tokens_of(s.engine(), "1, 2, 3, 4, 5, 6,");
  prompt.resize(12, prompt.back());
  const Outcome got = collect(*s.submit(request(prompt, small)));
  ASSERT_EQ(got.end.kind, Event::Kind::Done);
  if (got.end.reason == DoneReason::Length) {
    EXPECT_EQ(got.end.tokens.size(), 16u - 12u + 1u);
  }
  EXPECT_LE(got.end.tokens.size(), 5u);
}

TEST(Scheduler, PreemptionUnderATinyBlockBudgetKeepsGreedyAnswers) {
  REQUIRE_GEMMA();
  SchedulerConfig c = small_config(4);
  c.kv_blocks = 7;  // 16-token blocks: four sequences of 21..29 tokens need 8
  Scheduler s(gemma_path(), c);
  Engine ref(gemma_path(), {.threads = 2, .context = 256, .batch = 64, .block_size = 16});
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (int i = 0; i < 4; ++i)
    handles.push_back(s.submit(request(tokens_of(ref, kPrompts[size_t(i)]), greedy(16))));
  for (int i = 0; i < 4; ++i) {
    const Outcome got = collect(*handles[size_t(i)]);
    ASSERT_EQ(got.end.kind, Event::Kind::Done) << got.end.error;
    EXPECT_EQ(got.end.tokens, alone(ref, tokens_of(ref, kPrompts[size_t(i)]), 16)) << kPrompts[size_t(i)];
  }
  EXPECT_GT(s.stats().preemptions, 0);
  wait_idle(s);
  expect_all_blocks_returned(s);
}

TEST(Scheduler, SecondRequestReusesTheCachedPrefix) {
  REQUIRE_GEMMA();
  SchedulerConfig c = small_config(2);
  c.engine.block_size = 32;
  c.engine.batch = 128;
  Scheduler s(gemma_path(), c);
  std::vector<int32_t> prompt = tokens_of(s.engine(), "A long story about a fox, a crow and a piece of cheese. ");
  const std::vector<int32_t> text(prompt.begin() + 1, prompt.end());
  while (prompt.size() < 100) prompt.insert(prompt.end(), text.begin(), text.end());
  prompt.resize(100);
  const Outcome first = collect(*s.submit(request(prompt, greedy(6))));
  const Outcome second = collect(*s.submit(request(prompt, greedy(6))));
  ASSERT_EQ(second.end.kind, Event::Kind::Done) << second.end.error;
  EXPECT_EQ(first.end.timings.prompt_eval_count, 100);
  EXPECT_LT(second.end.timings.prompt_eval_count, 32);
  EXPECT_EQ(second.end.tokens, first.end.tokens);
  EXPECT_GE(s.stats().prefix_hit_tokens, 96);
}

TEST(Scheduler, EmbedGivesAStableVectorOfTheModelWidth) {
  REQUIRE_GEMMA();
  Scheduler s(gemma_path(), small_config(2));
  const std::vector<int32_t> text = tokens_of(s.engine(), "Why is the sky blue?");
  // Alongside a generation: the embedding runs between its steps.
  auto h = s.submit(request(tokens_of(s.engine(), kPrompts[1]), greedy(16)));
  const std::vector<float> a = s.embed(text);
  const std::vector<float> b = s.embed(text);
  EXPECT_EQ(collect(*h).end.kind, Event::Kind::Done);
  ASSERT_EQ(a.size(), size_t(s.engine().n_embd()));
  ASSERT_EQ(b.size(), a.size());
  double norm = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(std::isfinite(a[i]));
    norm += double(a[i]) * a[i];
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
  }
  EXPECT_GT(std::sqrt(norm), 1e-3);
  EXPECT_LT(std::sqrt(norm), 1e6);
  EXPECT_LT(diff, 1e-3 * std::sqrt(norm));
  EXPECT_THROW(s.embed({}), kiln::Error);
  wait_idle(s);
  expect_all_blocks_returned(s);
}

TEST(Scheduler, RecordsMetrics) {
  REQUIRE_GEMMA();
  metrics::Registry registry;
  SchedulerConfig c = small_config(2);
  c.metrics = &registry;
  c.model_label = "gemma3:270m";
  Scheduler s(gemma_path(), c);
  const Outcome got = collect(*s.submit(request(tokens_of(s.engine(), kPrompts[0]), greedy(4))));
  ASSERT_EQ(got.end.kind, Event::Kind::Done);
  wait_idle(s);
  const std::string text = registry.render();
  for (const char* name : {"kiln_queue_depth{model=\"gemma3:270m\"}", "kiln_running_sequences{model=\"gemma3:270m\"}",
                           "kiln_kv_blocks{model=\"gemma3:270m\",state=\"free\"}",
                           "kiln_prompt_tokens_total{model=\"gemma3:270m\"}",
                           "kiln_time_to_first_token_seconds_count{model=\"gemma3:270m\"} 1",
                           "kiln_inter_token_latency_seconds_count{model=\"gemma3:270m\"}",
                           "kiln_kv_tier_blocks{model=\"gemma3:270m\",tier=\"ram\"}",
                           "kiln_kv_tier_hits{model=\"gemma3:270m\",tier=\"disk\"} 0",
                           "kiln_kv_tier_budget_bytes{model=\"gemma3:270m\"} 0"})
    EXPECT_NE(text.find(name), std::string::npos) << name << "\n" << text;
  const std::string generated =
      "kiln_generated_tokens_total{model=\"gemma3:270m\"} " + std::to_string(got.end.tokens.size());
  EXPECT_NE(text.find(generated), std::string::npos) << text;
}

}  // namespace
}  // namespace kiln::engine
