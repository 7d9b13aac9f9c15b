// POST /api/pull against the in-process fake registry of the store tests:
// streamed progress in Ollama's order and shape, stream:false, errors.
#include "server_fixture.h"
#include "store/fake_registry.h"
#include "store/pull.h"

// The fake registry is a test helper of tests/store; tests/CMakeLists.txt
// compiles it into test_server too.

using namespace kiln::server_test;

namespace {

struct PullRoute : ::testing::Test {
  TestServer server{"pull-route"};
  kiln::store_test::FakeRegistry registry;

  void SetUp() override {
    server.api().state().registry = registry.url();
    TinyGguf model;
    model.write(server.dir() / "tiny.gguf");
    registry.publish("library", "tiny", "latest", server.dir() / "tiny.gguf");
  }
  std::vector<json> lines(const std::string& body) {
    std::vector<json> out;
    std::istringstream in(body);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }
};

}  // namespace

TEST_F(PullRoute, StreamsOllamasProgress) {
  auto r = server.client()->Post("/api/pull", R"({"model":"tiny"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  const auto ls = lines(r->body);
  ASSERT_GE(ls.size(), 4u) << r->body;
  EXPECT_EQ(ls.front(), json({{"status", "pulling manifest"}}));
  EXPECT_EQ(ls.back(), json({{"status", "success"}}));
  bool saw_blob = false, saw_verify = false, saw_write = false;
  for (const auto& l : ls) {
    const std::string st = l["status"];
    if (st.starts_with("pulling ") && st != "pulling manifest") {
      saw_blob = true;
      ASSERT_TRUE(l.contains("digest")) << l;
      EXPECT_EQ(st, "pulling " + l["digest"].get<std::string>().substr(7, 12));
      EXPECT_TRUE(l.contains("total")) << l;
    }
    saw_verify |= st == "verifying sha256 digest";
    saw_write |= st == "writing manifest";
  }
  EXPECT_TRUE(saw_blob && saw_verify && saw_write) << r->body;

  auto tags = body_json(server.client()->Get("/api/tags"));
  ASSERT_EQ(tags["models"].size(), 1u);
  EXPECT_EQ(tags["models"][0]["name"], "tiny:latest");
}

TEST_F(PullRoute, StreamFalseAnswersOnce) {
  auto r = server.client()->Post("/api/pull", R"({"name":"tiny:latest","stream":false})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r), json({{"status", "success"}}));
}

TEST_F(PullRoute, Errors) {
  auto c = server.client();
  auto r = c->Post("/api/pull", R"({})", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r), "model is required");
  r = c->Post("/api/pull", R"({"model":"bad name!"})", "application/json");
  EXPECT_EQ(r->status, 400);
  r = c->Post("/api/pull", R"({"model":"tiny","stream":"yes"})", "application/json");
  EXPECT_EQ(r->status, 400);

  r = c->Post("/api/pull", R"({"model":"absent","stream":false})", "application/json");
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(error_of(r).find("file does not exist"), std::string::npos) << r->body;

  // Streamed: the error is the last line, as Ollama sends it.
  r = c->Post("/api/pull", R"({"model":"absent"})", "application/json");
  EXPECT_EQ(r->status, 200);
  const auto ls = lines(r->body);
  ASSERT_FALSE(ls.empty());
  EXPECT_NE(ls.back().value("error", "").find("file does not exist"), std::string::npos) << r->body;
}
