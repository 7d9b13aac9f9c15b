// Session (what `kiln run` drives) on the real Gemma 3 270M file: seeded
// sampling is reproducible, temperature 0 is the engine's greedy decoding,
// KV reuse across turns gives the same answer as a fresh prefill, stop
// strings, cancellation, option validation and reloading. Skipped when the
// model is absent.
#include "engine/session.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
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

ModelSetup gemma(nlohmann::json params) {
  ModelSetup s;
  s.name = "gemma";
  s.weights = gemma_path();
  params["num_ctx"] = 512;
  params["num_thread"] = 2;
  s.parameters = std::move(params);
  return s;
}

#define REQUIRE_GEMMA() \
  if (!std::filesystem::exists(gemma_path())) GTEST_SKIP() << gemma_path() << " is absent"

// Collects what the sink receives.
struct Collected {
  std::string content, thinking;
  int calls = 0;
};

Reply chat(Session& s, std::string_view text, Collected* got = nullptr, const std::atomic<bool>* cancel = nullptr) {
  Collected local;
  Collected& c = got ? *got : local;
  return s.chat(
      text,
      [&](std::string_view t, bool thinking) {
        (thinking ? c.thinking : c.content).append(t);
        ++c.calls;
      },
      cancel);
}

TEST(Session, SameSeedSameTextAndTheSinkSeesAllOfIt) {
  REQUIRE_GEMMA();
  Session s(gemma({{"seed", 42}, {"num_predict", 16}}));
  // This file carries no tokenizer.chat_template: kiln's built-in one applies.
  EXPECT_EQ(s.template_origin(), "builtin:gemma3");
  Collected got;
  const Reply a = chat(s, "Why is the sky blue?", &got);
  EXPECT_FALSE(a.content.empty());
  EXPECT_EQ(got.content, a.content);  // streamed pieces add up to the answer
  EXPECT_GT(got.calls, 1);            // and arrived in more than one piece
  EXPECT_LE(a.timings.eval_count, 16);
  EXPECT_EQ(a.timings.eval_count, int64_t(a.tokens.size()));
  EXPECT_GT(a.timings.prompt_eval_count, 5);
  EXPECT_GT(a.timings.load_ns, 0);  // the first answer reports the load
  EXPECT_GE(a.timings.total_ns, a.timings.load_ns + a.timings.prompt_eval_ns + a.timings.eval_ns);
  ASSERT_EQ(s.history().size(), 2u);
  EXPECT_EQ(s.history()[1].content, a.content);

  s.clear();
  const Reply b = chat(s, "Why is the sky blue?");
  EXPECT_EQ(b.content, a.content);
  EXPECT_EQ(b.tokens, a.tokens);
  EXPECT_EQ(b.timings.load_ns, 0);  // already loaded

  // Another seed: a different draw (16 tokens at temperature 0.8 cannot all agree by chance).
  s.clear();
  s.set_parameter("seed", "7");
  const Reply c = chat(s, "Why is the sky blue?");
  EXPECT_NE(c.tokens, a.tokens);
}

TEST(Session, TemperatureZeroIsTheEnginesGreedyDecoding) {
  REQUIRE_GEMMA();
  // repeat_penalty 1: greedy sampling picks the highest *penalized* logit.
  Session s(gemma({{"temperature", 0}, {"repeat_penalty", 1}, {"num_predict", 24}}));
  const std::vector<int32_t> prompt = s.tokenize_prompt(s.render({{"user", "What is the capital of France?"}}));
  ASSERT_EQ(prompt.front(), s.tokenizer().bos());  // the template wrote BOS, and only once
  ASSERT_NE(prompt.size() > 1 ? prompt[1] : -1, s.tokenizer().bos());
  std::vector<int32_t> greedy = s.engine().generate_greedy(prompt, 24);
  if (!greedy.empty() && s.tokenizer().is_eog(greedy.back())) greedy.pop_back();

  const Reply r = chat(s, "What is the capital of France?");
  EXPECT_EQ(r.tokens, greedy);
  EXPECT_EQ(r.content, s.tokenizer().decode(greedy, /*skip_special=*/true));
  EXPECT_FALSE(r.content.empty());
}

TEST(Session, SecondTurnReusesTheCacheAndMatchesAFreshPrefill) {
  REQUIRE_GEMMA();
  const nlohmann::json params = {{"temperature", 0}, {"num_predict", 12}};
  Session s(gemma(params));
  const Reply first = chat(s, "Name a colour.");
  const Reply second = chat(s, "Name another one.");
  const std::vector<int32_t> full = s.tokenize_prompt(
      s.render({{"user", "Name a colour."}, {"assistant", first.content}, {"user", "Name another one."}}));
  // Only what the first turn's prompt and answer did not already cover ran.
  EXPECT_LT(second.timings.prompt_eval_count, int64_t(full.size()) / 2);
  EXPECT_GT(second.timings.prompt_eval_count, 0);

  // The same conversation from scratch (the first turn given as MESSAGEs).
  ModelSetup fresh_setup = gemma(params);
  fresh_setup.messages = {{"user", "Name a colour."}, {"assistant", first.content}};
  Session fresh(fresh_setup);
  const Reply again = chat(fresh, "Name another one.");
  EXPECT_EQ(again.timings.prompt_eval_count, int64_t(full.size()));
  EXPECT_EQ(again.tokens, second.tokens);
}

TEST(Session, StopStringEndsTheAnswerAndIsNotShown) {
  REQUIRE_GEMMA();
  Session s(gemma({{"temperature", 0}, {"num_predict", 24}}));
  const Reply plain = chat(s, "Why is the sky blue?");
  // A stop string taken from the middle of the unconstrained answer.
  const size_t space = plain.content.find(' ', plain.content.size() / 2);
  ASSERT_NE(space, std::string::npos) << plain.content;
  const std::string stop = plain.content.substr(space, 4);
  s.clear();
  s.set_parameter("stop", stop);
  Collected got;
  const Reply cut = chat(s, "Why is the sky blue?", &got);
  EXPECT_EQ(cut.content, plain.content.substr(0, plain.content.find(stop)));
  EXPECT_EQ(got.content, cut.content);
  EXPECT_EQ(cut.reason, DoneReason::Stop);
  EXPECT_EQ(plain.reason, DoneReason::Length);
}

TEST(Session, CancelStopsAndLeavesTheHistoryAlone) {
  REQUIRE_GEMMA();
  Session s(gemma({{"num_predict", 64}}));
  std::atomic<bool> cancel{false};
  int pieces = 0;
  const Reply r = s.chat(
      "Tell me a story.", [&](std::string_view, bool) { cancel.store(++pieces >= 2); }, &cancel);
  EXPECT_EQ(r.reason, DoneReason::Cancelled);
  EXPECT_LT(r.timings.eval_count, 64);
  EXPECT_TRUE(s.history().empty());
  cancel.store(true);  // cancelled before anything runs
  const Reply none = chat(s, "Hello", nullptr, &cancel);
  EXPECT_EQ(none.reason, DoneReason::Cancelled);
  EXPECT_TRUE(none.content.empty());
}

TEST(Session, SetParameterValidatesAndChangesNothingOnError) {
  REQUIRE_GEMMA();
  Session s(gemma({{"temperature", 0.5}}));
  const Options before = s.options();
  EXPECT_THROW(s.set_parameter("temperature", "hot"), kiln::Error);
  EXPECT_THROW(s.set_parameter("temperature", "-1"), kiln::Error);
  EXPECT_THROW(s.set_parameter("top_p", "1.5"), kiln::Error);
  EXPECT_THROW(s.set_parameter("no_such_option", "1"), kiln::Error);
  EXPECT_THROW(s.set_parameter("num_ctx", "0"), kiln::Error);
  EXPECT_EQ(s.options(), before);
  EXPECT_TRUE(s.user_parameters().empty());
  EXPECT_FLOAT_EQ(s.options().temperature, 0.5f);  // the model's parameter over the default
  EXPECT_THROW(s.set_stops(std::vector<std::string>(65, "x")), kiln::Error);  // at most 64
  EXPECT_EQ(s.options(), before);
  s.set_parameter("stop", "a");
  s.set_stops({"b", "c"});  // replaces, where a stop PARAMETER appends
  EXPECT_EQ(s.options().stop, (std::vector<std::string>{"b", "c"}));
  s.set_parameter("top_k", "5");
  EXPECT_EQ(s.options().top_k, 5);
  EXPECT_EQ(s.user_parameters(), nlohmann::json({{"stop", {"b", "c"}}, {"top_k", 5}}));
}

TEST(Session, RunnerOptionsReloadTheModel) {
  REQUIRE_GEMMA();
  Session s(gemma({{"num_predict", 4}}));
  EXPECT_EQ(s.engine().config().context, 512);
  (void)chat(s, "Hi");
  s.set_parameter("num_ctx", "256");
  const Reply r = chat(s, "Hi again");
  EXPECT_GT(r.timings.load_ns, 0);
  EXPECT_EQ(s.engine().config().context, 256);
  // A num_ctx beyond the model's trained context is capped to it.
  s.set_parameter("num_ctx", "10000000");
  (void)chat(s, "Hi");
  EXPECT_EQ(s.engine().config().context, 32768);
}

TEST(Session, OldestTurnsAreDroppedWhenTheContextIsFull) {
  REQUIRE_GEMMA();
  Session s(gemma({{"num_predict", 8}}));
  s.set_parameter("num_ctx", "64");
  s.set_system("Be brief.");
  for (int i = 0; i < 6; ++i) (void)chat(s, "Say something about the number " + std::to_string(i) + ".");
  ASSERT_GE(s.history().size(), 2u);
  EXPECT_LT(s.history().size(), 12u);  // some turns were dropped
  EXPECT_EQ(s.history()[0].role, "user");
  EXPECT_EQ(s.history()[s.history().size() - 2].content, "Say something about the number 5.");
  // A single message longer than the context is an error naming num_ctx.
  try {
    (void)chat(s, std::string(2000, 'a'));
    FAIL() << "expected an error";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_ctx"), std::string::npos) << e.what();
  }
}

TEST(Session, SystemMessageReachesThePrompt) {
  REQUIRE_GEMMA();
  ModelSetup setup = gemma({});
  setup.system = "You are a pirate.";
  Session s(setup);
  EXPECT_NE(s.render({{"user", "Hi"}}).find("You are a pirate."), std::string::npos);
  s.set_system("You are a poet.");
  const std::string text = s.render({{"user", "Hi"}});
  EXPECT_EQ(text.find("pirate"), std::string::npos);
  EXPECT_NE(text.find("You are a poet."), std::string::npos);
}

TEST(Session, GrammarConstrainsTheAnswerToTheSchema) {
  REQUIRE_GEMMA();
  Session s(gemma({{"num_predict", 64}, {"seed", 3}}));
  s.set_grammar(json_schema_grammar(nlohmann::ordered_json::parse(
      R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
          "age": {"type": "integer", "minimum": 0, "maximum": 99}}, "required": ["name", "age"]})")));
  const Reply r = chat(s, "A cat called Tom, aged 3, as JSON.");
  ASSERT_EQ(r.reason, DoneReason::Stop) << r.content;  // ended by EOG, allowed only once the object closed
  const auto j = nlohmann::json::parse(r.content);
  ASSERT_TRUE(j.is_object()) << r.content;
  EXPECT_TRUE(j["name"].is_string());
  EXPECT_TRUE(j["age"].is_number_integer());
  EXPECT_EQ(j.size(), 2u);
  // Back to free text.
  s.set_grammar(nullptr);
  EXPECT_FALSE(s.has_grammar());
}

TEST(Session, NotAModelIsAnError) {
  const std::filesystem::path bad = std::filesystem::temp_directory_path() / "kiln-session-not-a-model.gguf";
  { std::FILE* f = std::fopen(bad.c_str(), "wb"); std::fputs("not a gguf file", f); std::fclose(f); }
  ModelSetup setup;
  setup.weights = bad;
  EXPECT_THROW(Session{setup}, kiln::Error);
  std::filesystem::remove(bad);
}

}  // namespace
}  // namespace kiln::engine
