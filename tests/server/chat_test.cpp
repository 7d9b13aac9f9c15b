// POST /api/chat end to end on the real gemma 270M model, and tool calls on
// qwen 0.5B (its template has tools); skipped without the models.
#include "generate_fixture.h"

using namespace kiln::server_test;

namespace {

class ChatApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (fs::exists(gemma_file())) server_ = new ModelServer("chat", true);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!server_) GTEST_SKIP() << "no " << gemma_file();
  }
  static json chat(json extra = json::object()) {
    json body = {{"model", "gemma"},
                 {"messages", {{{"role", "user"}, {"content", "Say hello."}}}},
                 {"options", {{"num_predict", 6}, {"temperature", 0}}}};
    for (auto& [k, v] : extra.items()) body[k] = v;
    return body;
  }
  static ModelServer* server_;
};
ModelServer* ChatApi::server_ = nullptr;

const json kWeatherTool = json::parse(R"([{"type":"function","function":{"name":"get_weather",
    "description":"Get the current weather in a city","parameters":{"type":"object",
    "properties":{"city":{"type":"string","description":"The city"}},"required":["city"]}}}])");

json weather_request(bool stream) {
  return {{"model", "qwen"},
          // Asked cold, Qwen2.5-Coder 0.5B writes the call as a fenced JSON
          // block; after a first call rendered with <tool_call> tags by its
          // template it makes the second one in that form.
          {"messages", json::parse(R"([
              {"role":"user","content":"What is the weather in Rome and in Paris?"},
              {"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Rome"}}}]},
              {"role":"tool","content":"Sunny, 25 C","tool_name":"get_weather"}])")},
          {"tools", kWeatherTool},
          {"stream", stream},
          {"options", {{"num_predict", 48}, {"temperature", 0}}}};
}

}  // namespace

TEST_F(ChatApi, StreamsMessagesThenFinal) {
  auto r = server_->post("/api/chat", chat());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto lines = ModelServer::lines(r);
  ASSERT_GE(lines.size(), 2u);
  std::string text;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["message"]["role"], "assistant");
    EXPECT_EQ(lines[i]["done"], false);
    text += lines[i]["message"]["content"].get<std::string>();
  }
  const json& last = lines.back();
  EXPECT_EQ(last["done"], true);
  EXPECT_TRUE(last["done_reason"] == "stop" || last["done_reason"] == "length") << last;
  EXPECT_FALSE(last.contains("context"));
  EXPECT_LE(last["eval_count"].get<int>(), 6);
  EXPECT_GT(last["prompt_eval_count"].get<int>(), 0);
  EXPECT_GE(last["total_duration"].get<int64_t>(),
            last["prompt_eval_duration"].get<int64_t>() + last["eval_duration"].get<int64_t>());

  auto one = server_->post("/api/chat", chat({{"stream", false}}));
  ASSERT_TRUE(one);
  ASSERT_EQ(one->status, 200) << one->body;
  const json j = body_json(one);
  EXPECT_EQ(j["message"]["content"], text);
  EXPECT_EQ(j["message"]["role"], "assistant");
  EXPECT_EQ(j["done"], true);
}

TEST_F(ChatApi, HistoryLongerThanTheContextDropsOldMessages) {
  json msgs = json::array();
  for (int i = 0; i < 12; ++i) {
    msgs.push_back({{"role", "user"}, {"content", "Tell me something about the number " + std::to_string(i) + "."}});
    msgs.push_back({{"role", "assistant"}, {"content", "The number " + std::to_string(i) + " is a number."}});
  }
  msgs.push_back({{"role", "user"}, {"content", "Thanks."}});
  auto r = server_->post("/api/chat", chat({{"messages", msgs},
                                            {"stream", false},
                                            {"options", {{"num_ctx", 96}, {"num_predict", 2}, {"temperature", 0}}}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_LT(body_json(r)["prompt_eval_count"].get<int>(), 96);
}

TEST_F(ChatApi, ClientErrors) {
  struct Case {
    json body;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"messages", json::array()}}, 400, "model is required"},
      {chat({{"model", "nosuch"}}), 404, "not found"},
      {chat({{"think", true}}), 400, "does not support thinking"},
      {chat({{"tools", kWeatherTool}}), 400, "does not support tools"},
      {chat({{"messages", {{{"role", "robot"}, {"content", "x"}}}}}), 400, "invalid role"},
      {chat({{"messages", {{{"role", "user"}, {"content", "x"}, {"images", {"aGk="}}}}}}), 400,
       "does not support images"},
      {chat({{"messages", "hello"}}), 400, "messages"},
      {chat({{"options", {{"top_k", -1}}}}), 400, "top_k"},
  };
  for (const Case& k : cases) {
    auto r = server_->post("/api/chat", k.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, k.status) << k.body << " -> " << r->body;
    EXPECT_NE(error_of(r).find(k.message), std::string::npos) << k.body << " -> " << r->body;
  }
}

TEST_F(ChatApi, NoMessagesLoadsTheModel) {
  auto r = server_->post("/api/chat", {{"model", "gemma"}, {"stream", false}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = body_json(r);
  EXPECT_EQ(j["done_reason"], "load");
  EXPECT_EQ(j["message"]["role"], "assistant");
}

// Qwen2.5-Coder 0.5B at temperature 0 writes the call in a ```json fence
// rather than inside its template's <tool_call> tags; the parser takes a
// leading bare or fenced call too (docs/tool-calls.md), so a real model's
// call reaches tool_calls, streamed and not.
TEST_F(ChatApi, ToolCallsStreamedAndNot) {
  if (!server_->has_qwen()) GTEST_SKIP() << "no " << qwen_file();
  auto r = server_->post("/api/chat", weather_request(false));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = body_json(r);
  ASSERT_TRUE(j["message"].contains("tool_calls")) << j;
  const json& call = j["message"]["tool_calls"][0];
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_NE(call["function"]["arguments"]["city"].get<std::string>().find("Paris"), std::string::npos);
  EXPECT_EQ(call["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(j["done_reason"], "stop");
  EXPECT_EQ(j["message"]["content"], "");  // the call's text is not content

  r = server_->post("/api/chat", weather_request(true));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  int calls = 0;
  for (const json& line : ModelServer::lines(r))
    if (line["message"].contains("tool_calls")) {
      ++calls;
      EXPECT_EQ(line["message"]["tool_calls"][0]["function"]["name"], "get_weather");
    }
  EXPECT_EQ(calls, 1);

  // The call and its result sent back render with the template and answer.
  json history = weather_request(false);
  history["messages"].push_back({{"role", "assistant"}, {"content", ""}, {"tool_calls", {{{"function", call["function"]}}}}});
  history["messages"].push_back({{"role", "tool"}, {"content", "Sunny, 22 C"}, {"tool_name", "get_weather"}});
  history["options"]["num_predict"] = 4;
  r = server_->post("/api/chat", history);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

// Tools reach the template and a conversation holding a call and its result
// renders and is answered (the request path of tool use).
TEST_F(ChatApi, ToolsAndToolHistoryAreAccepted) {
  if (!server_->has_qwen()) GTEST_SKIP() << "no " << qwen_file();
  json req = weather_request(false);
  req["options"]["num_predict"] = 24;
  auto r = server_->post("/api/chat", req);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = body_json(r);
  // The model names the tool and the city (tagged or not).
  const std::string all = j["message"].dump();
  EXPECT_NE(all.find("get_weather"), std::string::npos) << j;
  EXPECT_NE(all.find("Paris"), std::string::npos) << j;
  req["messages"].push_back({{"role", "assistant"},
                             {"content", ""},
                             {"tool_calls", {{{"function", {{"name", "get_weather"}, {"arguments", {{"city", "Paris"}}}}}}}}});
  req["messages"].push_back({{"role", "tool"}, {"content", "Rainy, 18 C"}, {"tool_name", "get_weather"}});
  req["options"]["num_predict"] = 4;
  r = server_->post("/api/chat", req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_GT(body_json(r)["prompt_eval_count"].get<int>(), 0);
}
