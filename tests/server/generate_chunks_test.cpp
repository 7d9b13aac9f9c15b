// Ollama's chunk objects and the collector that turns a stream into one
// "stream": false answer; request parsing errors. No model needed.
#include <gtest/gtest.h>

#include "server/generation.h"
#include "server/generation_chunks.h"
#include "server/generation_request.h"
#include "server/http_error.h"

using namespace kiln::server;
using ojson = nlohmann::ordered_json;

namespace {

std::vector<std::string> keys(const ojson& o) {
  std::vector<std::string> k;
  for (auto it = o.begin(); it != o.end(); ++it) k.push_back(it.key());
  return k;
}

int status_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const HttpError& e) {
    if (message) *message = e.what();
    return e.status();
  }
  return 200;
}

}  // namespace

TEST(GenerateChunks, GenerateKeysInOllamaOrder) {
  ChunkBuilder b("gemma", false, false);
  const ojson p = b.partial("Hi", "", {}, nullptr);
  EXPECT_EQ(keys(p), (std::vector<std::string>{"model", "created_at", "response", "done"}));
  const std::string t = p["created_at"];
  EXPECT_EQ(t.back(), 'Z');
  EXPECT_EQ(t[4], '-');
  EXPECT_EQ(t[10], 'T');

  std::vector<int32_t> ctx = {1, 2, 3};
  FinalStats s;
  s.reason = kiln::engine::DoneReason::Length;
  s.total_ns = 10;
  s.load_ns = 1;
  s.timings.prompt_eval_count = 3;
  s.timings.eval_count = 2;
  s.context = &ctx;
  const ojson f = b.done(s);
  EXPECT_EQ(keys(f), (std::vector<std::string>{"model", "created_at", "response", "done", "done_reason", "context",
                                               "total_duration", "load_duration", "prompt_eval_count",
                                               "prompt_eval_duration", "eval_count", "eval_duration"}));
  EXPECT_EQ(f["done_reason"], "length");
  EXPECT_EQ(f["context"], ojson({1, 2, 3}));
}

TEST(GenerateChunks, ChatKeysToolCallsAndLogprobs) {
  ChunkBuilder b("qwen", true, true);
  kiln::engine::ToolCall call;
  call.id = "call_abc";
  call.name = "get_weather";
  call.arguments = {{"city", "Paris"}};
  kiln::engine::TokenLogprobText lp;
  lp.text = "Hi";
  lp.logprob = -0.5f;
  lp.top = {{"Hi", -0.5f}, {"Hello", -1.5f}};
  std::vector<kiln::engine::TokenLogprobText> lps = {lp};
  const ojson p = b.partial("", "hmm", {call}, &lps);
  EXPECT_EQ(keys(p), (std::vector<std::string>{"model", "created_at", "message", "done", "logprobs"}));
  EXPECT_EQ(keys(p["message"]), (std::vector<std::string>{"role", "content", "thinking", "tool_calls"}));
  EXPECT_EQ(p["message"]["tool_calls"][0],
            ojson::parse(R"({"id":"call_abc","function":{"index":0,"name":"get_weather","arguments":{"city":"Paris"}}})"));
  EXPECT_EQ(p["logprobs"][0]["token"], "Hi");
  EXPECT_EQ(p["logprobs"][0]["bytes"], ojson({72, 105}));
  EXPECT_EQ(p["logprobs"][0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(p["logprobs"][0]["top_logprobs"][1]["token"], "Hello");

  const ojson f = b.done(FinalStats{});
  EXPECT_EQ(keys(f), (std::vector<std::string>{"model", "created_at", "message", "done_reason", "done",
                                               "total_duration", "load_duration", "prompt_eval_count",
                                               "prompt_eval_duration", "eval_count", "eval_duration"}));
  EXPECT_EQ(b.lifecycle("load")["done_reason"], "load");
}

TEST(GenerateChunks, CollectorMergesGenerate) {
  ChunkBuilder b("gemma", false, false);
  ChunkCollector c;
  c.add(b.partial("Hel", "", {}, nullptr));
  c.add(b.partial("lo", "think", {}, nullptr));
  FinalStats s;
  s.timings.eval_count = 2;
  c.add(b.done(s));
  const ojson& r = c.result();
  EXPECT_EQ(r["response"], "Hello");
  EXPECT_EQ(r["thinking"], "think");
  EXPECT_EQ(r["done"], true);
  EXPECT_EQ(r["eval_count"], 2);
  EXPECT_EQ(keys(r)[2], "response");
  EXPECT_EQ(keys(r)[3], "thinking");
}

TEST(GenerateChunks, CollectorMergesChat) {
  ChunkBuilder b("qwen", true, false);
  kiln::engine::ToolCall call;
  call.name = "f";
  call.arguments = ojson::object();
  kiln::engine::TokenLogprobText lp;
  lp.text = "x";
  std::vector<kiln::engine::TokenLogprobText> lps = {lp, lp};
  ChunkCollector c;
  c.add(b.partial("", "why", {}, &lps));
  c.add(b.partial("An", "", {}, &lps));
  c.add(b.partial("", "", {call}, nullptr));
  c.add(b.done(FinalStats{}, "swer", {call}));
  const ojson& r = c.result();
  EXPECT_EQ(r["message"]["content"], "Answer");
  EXPECT_EQ(r["message"]["thinking"], "why");
  EXPECT_EQ(r["message"]["tool_calls"].size(), 2u);
  EXPECT_EQ(r["logprobs"].size(), 4u);
  EXPECT_EQ(r["done_reason"], "stop");
  EXPECT_EQ(keys(r["message"]), (std::vector<std::string>{"role", "content", "thinking", "tool_calls"}));
}

TEST(GenerateChunks, CollectorKeepsError) {
  ChunkCollector c;
  c.add(ChunkBuilder("m", false, false).partial("a", "", {}, nullptr));
  c.add(ojson{{"error", "engine failed"}});
  EXPECT_EQ(c.result()["error"], "engine failed");
}

TEST(GenerateRequest, ChecksFieldsBeforeAnyModel) {
  std::string msg;
  EXPECT_EQ(status_of([] { parse_generate_request(ojson::object()); }, &msg), 400);
  EXPECT_EQ(msg, "model is required");
  EXPECT_EQ(status_of([] { parse_generate_request({{"model", 3}}); }, &msg), 400);
  EXPECT_NE(msg.find("'model'"), std::string::npos);
  EXPECT_EQ(status_of([] { parse_generate_request({{"model", "m"}, {"stream", "yes"}}); }), 400);
  EXPECT_EQ(status_of([] { parse_generate_request({{"model", "m"}, {"format", "xml"}}); }, &msg), 400);
  EXPECT_NE(msg.find("invalid format"), std::string::npos);
  EXPECT_EQ(status_of([] { parse_generate_request({{"model", "m"}, {"format", 3}}); }), 400);
  EXPECT_EQ(status_of([] { parse_generate_request({{"model", "m"}, {"think", "very"}}); }), 400);
  EXPECT_EQ(status_of([] { parse_generate_request({{"model", "m"}, {"top_logprobs", 21}}); }, &msg), 400);
  EXPECT_EQ(msg, "top_logprobs must be between 0 and 20");
  EXPECT_EQ(status_of([] { parse_generate_request({{"model", "m"}, {"raw", true}, {"system", "s"}}); }), 400);
  EXPECT_EQ(status_of([] { parse_generate_request({{"model", "m"}, {"keep_alive", "soon"}}); }), 400);
  EXPECT_EQ(status_of([] { parse_generate_request({{"model", "m"}, {"options", {1, 2}}}); }), 400);
  EXPECT_EQ(status_of([] { parse_generate_request({{"model", "m"}, {"context", {1, -2}}}); }), 400);
  EXPECT_EQ(status_of([] { parse_generate_request({{"model", "m"}, {"unknown_field", {1}}, {"format", ""}}); }),
            200);

  const NativeRequest r = parse_generate_request(
      {{"model", "m"}, {"think", "high"}, {"stream", false}, {"format", "json"}, {"images", {"aGk="}}});
  EXPECT_EQ(r.think, true);
  EXPECT_EQ(r.think_level, "high");
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.format, "json");
  EXPECT_TRUE(r.has_images);
}

TEST(GenerateRequest, ChatMessagesAndTools) {
  EXPECT_EQ(status_of([] { parse_chat_request({{"model", "m"}, {"messages", {{{"role", "robot"}}}}}); }), 400);
  EXPECT_EQ(status_of([] { parse_chat_request({{"model", "m"}, {"messages", "hi"}}); }), 400);
  EXPECT_EQ(status_of([] { parse_chat_request({{"model", "m"}, {"tools", {{{"type", "function"}}}}}); }), 400);
  const NativeRequest r = parse_chat_request(ojson::parse(R"({"model":"m","messages":[
      {"role":"user","content":"weather?"},
      {"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Paris"}}}]},
      {"role":"tool","content":"sunny","tool_name":"get_weather"}],
      "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]})"));
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[1]["tool_calls"][0]["function"]["arguments"]["city"], "Paris");
  EXPECT_EQ(r.messages[2]["tool_name"], "get_weather");
  EXPECT_EQ(tool_names(r.tools), std::vector<std::string>{"get_weather"});
  // Arguments given as a JSON string (as OpenAI clients write them) are read as the object.
  const NativeRequest s = parse_chat_request(ojson::parse(R"({"model":"m","messages":[
      {"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{\"a\":1}"}}]}]})"));
  EXPECT_EQ(s.messages[0]["tool_calls"][0]["function"]["arguments"]["a"], 1);
}
