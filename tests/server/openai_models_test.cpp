// OpenAI's /v1/models and /v1/models/{id} over the store.
#include "server_fixture.h"

using namespace kiln::server_test;

TEST(OpenAIModels, ListAndRetrieve) {
  TestServer s("openai");
  auto c = s.client();
  auto r = c->Get("/v1/models");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r), json({{"object", "list"}, {"data", json::array()}}));

  ASSERT_EQ(s.create("tiny", TinyGguf())->status, 200);
  ASSERT_EQ(c->Post("/api/copy", R"({"source": "tiny", "destination": "hf.co/org/tiny:q8"})", "application/json")->status,
            200);
  r = c->Get("/v1/models");
  ASSERT_TRUE(r);
  const json list = body_json(r);
  ASSERT_EQ(list["data"].size(), 2u);
  for (const auto& m : list["data"]) {
    EXPECT_EQ(m["object"], "model");
    EXPECT_GT(m["created"].get<int64_t>(), 1600000000);
    EXPECT_TRUE(m["id"] == "tiny:latest" || m["id"] == "hf.co/org/tiny:q8") << m;
    EXPECT_EQ(m["owned_by"], m["id"] == "tiny:latest" ? "library" : "org");
  }

  r = c->Get("/v1/models/tiny");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json m = body_json(r);
  EXPECT_EQ(m["id"], "tiny");  // as asked, as Ollama answers
  EXPECT_EQ(m["object"], "model");
  EXPECT_EQ(m["owned_by"], "library");

  r = c->Get("/v1/models/hf.co/org/tiny:q8");  // an id with slashes
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["owned_by"], "org");

  // Errors in OpenAI's shape.
  r = c->Get("/v1/models/missing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  m = body_json(r);
  EXPECT_EQ(m["error"]["message"], "model 'missing' not found");
  EXPECT_EQ(m["error"]["type"], "not_found_error");
  EXPECT_TRUE(m["error"].contains("param") && m["error"].contains("code"));
  r = c->Get("/v1/models/..%2F..%2Fetc");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(body_json(r)["error"]["type"], "invalid_request_error");
}
