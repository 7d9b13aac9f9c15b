// /v1/chat/completions, /v1/completions and /v1/embeddings end to end on an
// in-process server with the real gemma 270M model (skipped without it):
// few tokens per request, so the suite stays a few seconds.
#include <chrono>
#include <cstdlib>
#include <thread>

#include "server_fixture.h"

using namespace kiln::server_test;

namespace {

fs::path gemma_path() {
  const char* dir = std::getenv("KILN_TEST_MODELS");
  const char* home = std::getenv("HOME");
  return (dir ? fs::path(dir) : fs::path(home ? home : "/root") / ".cache/kiln/models") / "gemma-3-270m-q4_k_m.gguf";
}

// The "data: ..." payloads of an SSE body, in order.
std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
  }
  return out;
}

class OpenAIRoutes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(gemma_path())) return;
    server_ = new TestServer("openai-routes");
    // The blob goes in through the store (a copy), not 250 MB over HTTP.
    const auto blob = server_->api().state().store.blobs().import_file(gemma_path());
    json body = {{"model", "gemma"}, {"files", {{"model.gguf", blob.digest.str()}}}, {"stream", false}};
    auto r = server_->client()->Post("/api/create", body.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!server_) GTEST_SKIP() << "no " << gemma_path();
  }
  static httplib::Result post(const std::string& path, const json& body) {
    auto c = server_->client();
    c->set_read_timeout(120);
    return c->Post(path.c_str(), body.dump(), "application/json");
  }
  static TestServer* server_;
};
TestServer* OpenAIRoutes::server_ = nullptr;

const json kHello = {{"model", "gemma"},
                     {"messages", {{{"role", "user"}, {"content", "Say hello."}}}},
                     {"max_tokens", 6},
                     {"temperature", 0}};

}  // namespace

TEST_F(OpenAIRoutes, ChatCompletion) {
  auto r = post("/v1/chat/completions", kHello);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("application/json"), std::string::npos);
  const json c = body_json(r);
  EXPECT_EQ(c["object"], "chat.completion");
  EXPECT_EQ(c["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(c["model"], "gemma");
  EXPECT_EQ(c["system_fingerprint"], "fp_kiln");
  const json& choice = c["choices"][0];
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_TRUE(choice["message"]["content"].is_string());
  EXPECT_TRUE(choice["finish_reason"] == "stop" || choice["finish_reason"] == "length") << choice;
  const int completion = c["usage"]["completion_tokens"];
  EXPECT_GT(completion, 0);
  EXPECT_LE(completion, 6);
  EXPECT_EQ(c["usage"]["total_tokens"].get<int>(), c["usage"]["prompt_tokens"].get<int>() + completion);
}

TEST_F(OpenAIRoutes, ChatStreamMatchesTheWholeAnswer) {
  const json whole = body_json(post("/v1/chat/completions", kHello));
  json body = kHello;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  auto r = post("/v1/chat/completions", body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  const auto events = sse_events(r->body);
  ASSERT_GE(events.size(), 3u) << r->body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  int finishes = 0;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const json chunk = json::parse(events[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["id"], json::parse(events[0])["id"]);
    EXPECT_TRUE(chunk["usage"].is_null());
    const json& delta = chunk["choices"][0]["delta"];
    EXPECT_EQ(delta.contains("role"), i == 0) << events[i];
    text += delta.value("content", "");
    finishes += !chunk["choices"][0]["finish_reason"].is_null();
  }
  EXPECT_EQ(finishes, 1);
  const json usage_chunk = json::parse(events[events.size() - 2]);
  EXPECT_EQ(usage_chunk["choices"], json::array());
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], whole["usage"]["completion_tokens"]);
  EXPECT_EQ(text, whole["choices"][0]["message"]["content"]);  // greedy: the same answer
}

TEST_F(OpenAIRoutes, JsonSchemaResponseFormat) {
  json body = kHello;
  body["max_tokens"] = 64;
  body["messages"][0]["content"] = "Give a name as JSON.";
  body["response_format"] = json::parse(R"({"type": "json_schema", "json_schema": {"name": "person", "schema":
      {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}}, "required": ["name"]}}})");
  auto r = post("/v1/chat/completions", body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json c = body_json(r);
  const json doc = json::parse(c["choices"][0]["message"]["content"].get<std::string>());
  ASSERT_TRUE(doc.is_object()) << doc;
  ASSERT_TRUE(doc["name"].is_string()) << doc;
  EXPECT_LE(doc["name"].get<std::string>().size(), 8u);
}

TEST_F(OpenAIRoutes, CompletionsWithEchoAndStream) {
  auto r = post("/v1/completions", {{"model", "gemma"}, {"prompt", "One, two,"}, {"max_tokens", 4},
                                    {"temperature", 0}, {"echo", true}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json c = body_json(r);
  EXPECT_EQ(c["object"], "text_completion");
  const std::string text = c["choices"][0]["text"];
  EXPECT_EQ(text.rfind("One, two,", 0), 0u) << text;
  EXPECT_GT(c["usage"]["completion_tokens"].get<int>(), 0);

  r = post("/v1/completions", {{"model", "gemma"}, {"prompt", "One, two,"}, {"max_tokens", 4}, {"temperature", 0},
                               {"stream", true}, {"logprobs", 2}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const auto events = sse_events(r->body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string streamed;
  int tokens = 0;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json chunk = json::parse(events[i]);
    streamed += chunk["choices"][0]["text"].get<std::string>();
    if (chunk["choices"][0]["logprobs"].is_object()) {
      tokens += int(chunk["choices"][0]["logprobs"]["tokens"].size());
      for (const auto& alts : chunk["choices"][0]["logprobs"]["top_logprobs"]) EXPECT_LE(alts.size(), 2u);
    }
  }
  EXPECT_EQ(text, "One, two," + streamed);
  EXPECT_GT(tokens, 0);
}

TEST_F(OpenAIRoutes, Embeddings) {
  auto r = post("/v1/embeddings", {{"model", "gemma"}, {"input", {"red", "green"}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json e = body_json(r);
  EXPECT_EQ(e["object"], "list");
  ASSERT_EQ(e["data"].size(), 2u);
  EXPECT_EQ(e["data"][1]["index"], 1);
  EXPECT_GT(e["data"][0]["embedding"].size(), 0u);
  EXPECT_GT(e["usage"]["prompt_tokens"].get<int>(), 0);

  r = post("/v1/embeddings", {{"model", "gemma"}, {"input", "red"}, {"encoding_format", "base64"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string b64 = body_json(r)["data"][0]["embedding"];
  EXPECT_EQ(b64.size(), (e["data"][0]["embedding"].size() * 4 + 2) / 3 * 4);
}

TEST_F(OpenAIRoutes, ErrorsInOpenAIShape) {
  auto expect_error = [](const httplib::Result& r, int status, const char* type) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    const json j = body_json(r);
    ASSERT_TRUE(j["error"].is_object()) << r->body;
    EXPECT_EQ(j["error"]["type"], type);
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  };
  json missing = kHello;
  missing["model"] = "no-such-model";
  expect_error(post("/v1/chat/completions", missing), 404, "not_found_error");
  expect_error(post("/v1/completions", {{"model", "no-such-model"}, {"prompt", "x"}}), 404, "not_found_error");
  expect_error(post("/v1/embeddings", {{"model", "no-such-model"}, {"input", "x"}}), 404, "not_found_error");
  expect_error(post("/v1/chat/completions", {{"model", "gemma"}, {"messages", json::array()}}), 400,
               "invalid_request_error");
  json image = kHello;
  image["messages"][0]["content"] = {
      {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,iVBORw0KGgo="}}}}};
  expect_error(post("/v1/chat/completions", image), 400, "invalid_request_error");  // gemma 270M has no vision
  auto c = server_->client();
  expect_error(c->Post("/v1/chat/completions", "{not json", "application/json"), 400, "invalid_request_error");
}

TEST_F(OpenAIRoutes, DisconnectMidStreamFreesTheSequence) {
  json body = kHello;
  body["max_tokens"] = 200;
  body["stream"] = true;
  auto c = server_->client();
  int chunks = 0;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  // The receiver stops after the first piece: httplib closes the connection.
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 2; };
  c->send(req);
  EXPECT_GE(chunks, 1);
  // The scheduler frees the cancelled sequence before its next step.
  bool settled = false;
  for (int i = 0; i < 100 && !settled; ++i) {
    auto m = server_->client()->Get("/metrics");
    ASSERT_TRUE(m);
    if (m->status == 404) GTEST_SKIP() << "no /metrics route";
    settled = m->body.find("kiln_running_sequences{model=\"gemma:latest\"} 0") != std::string::npos &&
              m->body.find("kiln_kv_blocks{model=\"gemma:latest\",state=\"used\"} 0") != std::string::npos;
    if (!settled) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(settled);
}
