// POST /api/generate end to end on the real gemma 270M model (qwen 0.5B for
// structured output), few tokens per request; skipped without the models.
#include "engine/json_schema_validate.h"
#include "generate_fixture.h"

using namespace kiln::server_test;

namespace {

class GenerateApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (fs::exists(gemma_file())) server_ = new ModelServer("generate", true);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!server_) GTEST_SKIP() << "no " << gemma_file();
  }
  static json gen(json extra = json::object()) {
    json body = {{"model", "gemma"}, {"prompt", "Why is the sky blue?"},
                 {"options", {{"num_predict", 8}, {"temperature", 0}}}};
    for (auto& [k, v] : extra.items()) body[k] = v;
    return body;
  }
  static ModelServer* server_;
};
ModelServer* GenerateApi::server_ = nullptr;

void expect_timings(const json& last) {
  for (const char* k : {"total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count",
                        "eval_duration"})
    ASSERT_TRUE(last.contains(k) && last[k].is_number_integer()) << k << " in " << last;
  EXPECT_GT(last["prompt_eval_count"].get<int64_t>(), 0);
  EXPECT_GT(last["eval_duration"].get<int64_t>(), 0);
  EXPECT_GE(last["total_duration"].get<int64_t>(),
            last["prompt_eval_duration"].get<int64_t>() + last["eval_duration"].get<int64_t>());
}

}  // namespace

TEST_F(GenerateApi, StreamsChunksThenFinalWithTimings) {
  auto r = server_->post("/api/generate", gen());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  const auto lines = ModelServer::lines(r);
  ASSERT_GE(lines.size(), 2u);
  std::string text;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["model"], "gemma");
    EXPECT_EQ(lines[i]["done"], false);
    EXPECT_EQ(lines[i]["created_at"].get<std::string>().back(), 'Z');
    text += lines[i]["response"].get<std::string>();
  }
  const json& last = lines.back();
  EXPECT_EQ(last["done"], true);
  EXPECT_EQ(last["response"], "");
  EXPECT_EQ(last["done_reason"], "length");  // 8 tokens is never a whole answer
  EXPECT_EQ(last["eval_count"], 8);
  expect_timings(last);
  ASSERT_TRUE(last["context"].is_array());
  EXPECT_EQ(last["context"].size(), last["prompt_eval_count"].get<size_t>() + 8);
  EXPECT_FALSE(text.empty());

  // The same request unstreamed: one object with the same text (greedy).
  auto one = server_->post("/api/generate", gen({{"stream", false}}));
  ASSERT_TRUE(one);
  ASSERT_EQ(one->status, 200) << one->body;
  EXPECT_NE(one->get_header_value("Content-Type").find("application/json"), std::string::npos);
  const json j = body_json(one);
  EXPECT_EQ(j["response"], text);
  EXPECT_EQ(j["done"], true);
  EXPECT_EQ(j["done_reason"], "length");
  expect_timings(j);
}

TEST_F(GenerateApi, NumPredictAndRaw) {
  auto r = server_->post("/api/generate",
                         gen({{"raw", true}, {"prompt", "The capital of France is"}, {"stream", false},
                              {"options", {{"num_predict", 3}, {"temperature", 0}}}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = body_json(r);
  EXPECT_EQ(j["eval_count"], 3);
  EXPECT_EQ(j["done_reason"], "length");
  EXPECT_FALSE(j.contains("context"));  // raw answers carry no context, as Ollama's
  EXPECT_FALSE(j["response"].get<std::string>().empty());
}

TEST_F(GenerateApi, Logprobs) {
  auto r = server_->post("/api/generate", gen({{"logprobs", true}, {"top_logprobs", 2}, {"stream", false},
                                               {"options", {{"num_predict", 3}, {"temperature", 0}, {"repeat_penalty", 1}}}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = body_json(r);
  ASSERT_EQ(j["logprobs"].size(), 3u) << j;
  for (const auto& lp : j["logprobs"]) {
    EXPECT_TRUE(lp["token"].is_string());
    EXPECT_LE(lp["logprob"].get<double>(), 0.0);
    EXPECT_TRUE(lp["bytes"].is_array());
    ASSERT_EQ(lp["top_logprobs"].size(), 2u);
    // Greedy without penalties: the chosen token is the most likely one
    // (logprobs describe the raw distribution, before penalties).
    EXPECT_EQ(lp["top_logprobs"][0]["token"], lp["token"]);
  }
}

TEST_F(GenerateApi, FormatJsonAndSchema) {
  if (!server_->has_qwen()) GTEST_SKIP() << "no " << qwen_file();
  auto r = server_->post("/api/generate", {{"model", "qwen"},
                                           {"prompt", "Reply with a JSON object with key \"answer\" set to 2+2."},
                                           {"format", "json"},
                                           {"stream", false},
                                           {"options", {{"num_predict", 40}, {"temperature", 0}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = body_json(r);
  EXPECT_EQ(j["done_reason"], "stop") << j;
  const json answer = json::parse(j["response"].get<std::string>(), nullptr, false);
  EXPECT_TRUE(answer.is_object()) << j["response"];

  const nlohmann::ordered_json schema = nlohmann::ordered_json::parse(R"({"type":"object",
      "properties":{"city":{"type":"string","maxLength":20},"population":{"type":"integer"}},
      "required":["city","population"]})");
  r = server_->post("/api/generate", {{"model", "qwen"},
                                      {"prompt", "The largest city of France and its population, as JSON."},
                                      {"format", json::parse(schema.dump())},
                                      {"stream", false},
                                      {"options", {{"num_predict", 40}, {"temperature", 0}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  j = body_json(r);
  EXPECT_EQ(j["done_reason"], "stop") << j;
  const auto instance = nlohmann::ordered_json::parse(j["response"].get<std::string>(), nullptr, false);
  ASSERT_FALSE(instance.is_discarded()) << j["response"];
  EXPECT_EQ(kiln::engine::json_schema_validate(schema, instance), "") << instance;
}

TEST_F(GenerateApi, ClientErrors) {
  struct Case {
    json body;
    int status;
    std::string message;  // a part of the error
  };
  const std::vector<Case> cases = {
      {{{"prompt", "hi"}}, 400, "model is required"},
      {{{"model", "nosuch"}, {"prompt", "hi"}}, 404, "not found"},
      {gen({{"options", {{"num_ctx", 1000000000}}}}), 400, "num_ctx"},
      {gen({{"options", {{"num_predict", -5}}}}), 400, "num_predict"},
      {gen({{"options", {{"top_k", -1}}}}), 400, "top_k"},
      {gen({{"options", {{"temperature", "hot"}}}}), 400, "temperature"},
      {gen({{"images", {"aGVsbG8="}}}), 400, "does not support images"},
      {gen({{"think", true}}), 400, "does not support thinking"},
      {gen({{"suffix", "end"}}), 400, "does not support insert"},
      {gen({{"raw", true}, {"system", "s"}}), 400, "raw mode"},
      {gen({{"format", "xml"}}), 400, "invalid format"},
      {gen({{"format", {{"type", "object"}, {"not", {{"type", "string"}}}}}}), 400, "not"},
      {gen({{"top_logprobs", 50}}), 400, "top_logprobs"},
      {gen({{"keep_alive", "soon"}}), 400, ""},
      {gen({{"prompt", 7}}), 400, "prompt"},
      {gen({{"options", {{"num_ctx", 64}}}, {"truncate", false}, {"prompt", std::string(2000, 'a') + " b"}}), 400,
       "exceeds the context length"},
  };
  for (const Case& k : cases) {
    auto r = server_->post("/api/generate", k.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, k.status) << k.body << " -> " << r->body;
    EXPECT_NE(error_of(r).find(k.message), std::string::npos) << k.body << " -> " << r->body;
  }
  auto c = server_->server().client();
  auto r = c->Post("/api/generate", "{\"model\": ", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("invalid JSON"), std::string::npos);
}

TEST_F(GenerateApi, LongPromptIsTruncatedToTheContext) {
  auto r = server_->post("/api/generate", gen({{"stream", false},
                                               {"prompt", std::string(3000, 'a') + " b"},
                                               {"options", {{"num_ctx", 64}, {"num_predict", 2}, {"temperature", 0}}}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_LE(body_json(r)["prompt_eval_count"].get<int>(), 63);
}

TEST_F(GenerateApi, EmptyPromptLoadsAndKeepAliveZeroUnloads) {
  auto r = server_->post("/api/generate", {{"model", "gemma"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = ModelServer::lines(r).at(0);
  EXPECT_EQ(j["done"], true);
  EXPECT_EQ(j["done_reason"], "load");
  EXPECT_EQ(j["response"], "");

  r = server_->post("/api/generate", {{"model", "gemma"}, {"keep_alive", 0}, {"stream", false}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["done_reason"], "unload");
}

// A client that goes away mid-answer stops its sequence: the scheduler runs
// nothing afterwards and the sequence's blocks are free again.
TEST_F(GenerateApi, DisconnectCancels) {
  const auto before = server_->stats("gemma");
  const int fd = server_->open_stream(
      "/api/generate", gen({{"options", {{"num_predict", 2000}, {"temperature", 0}, {"num_ctx", 2048}}}}),
      "\"done\":false");
  ASSERT_GE(fd, 0);
  ::close(fd);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  kiln::engine::SchedulerStats s;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s = server_->stats("gemma");
  } while ((s.running != 0 || s.waiting != 0) && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.waiting, 0);
  EXPECT_LT(s.tokens_out - before.tokens_out, 1000);  // stopped long before num_predict
  // Every block is back: free, or kept by the prefix cache and reclaimable.
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_EQ(s.kv_blocks_free, s.kv_blocks_total);
}
