// POST /api/create: streaming progress, `from` a stored model, and every
// kind of bad request answered 4xx before any work.
#include "server_fixture.h"

using namespace kiln::server_test;

namespace {

std::vector<json> ndjson(const std::string& body) {
  std::vector<json> out;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

}  // namespace

TEST(Create, StreamsOllamaProgressLines) {
  TestServer s("create-stream");
  const std::string digest = s.upload(TinyGguf());
  auto r = s.client()->Post("/api/create", json({{"model", "tiny"}, {"files", {{"model.gguf", digest}}}}).dump(),
                            "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  const auto lines = ndjson(r->body);
  ASSERT_GE(lines.size(), 4u) << r->body;
  EXPECT_EQ(lines.front(), json({{"status", "gathering model components"}}));
  EXPECT_EQ(lines[lines.size() - 2], json({{"status", "writing manifest"}}));
  EXPECT_EQ(lines.back(), json({{"status", "success"}}));
  bool parsed = false;
  for (const auto& l : lines) {
    EXPECT_TRUE(l.contains("status") && !l.contains("error")) << l;
    parsed |= l["status"] == "parsing GGUF";
  }
  EXPECT_TRUE(parsed);
}

TEST(Create, FromStoredModelOverridesLayers) {
  TestServer s("create-from");
  ASSERT_EQ(s.create("base", TinyGguf(), {{"system", "one"}, {"parameters", {{"top_k", 3}}}})->status, 200);
  auto c = s.client();
  auto r = c->Post("/api/create",
                   json({{"model", "child"}, {"from", "base"}, {"system", "two"}, {"parameters", {{"top_p", "0.25"}}},
                         {"stream", false}})
                       .dump(),
                   "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json show = body_json(c->Post("/api/show", R"({"model": "child"})", "application/json"));
  EXPECT_EQ(show["system"], "two");
  const std::string params = show["parameters"];
  EXPECT_NE(params.find("top_k                          3"), std::string::npos) << params;  // inherited
  EXPECT_NE(params.find("top_p                          0.25"), std::string::npos) << params;  // added, from a string
  // The weights are shared, not copied.
  const json base = body_json(c->Post("/api/show", R"({"model": "base", "verbose": true})", "application/json"));
  EXPECT_EQ(show["model_info"]["general.parameter_count"], base["model_info"]["general.parameter_count"]);
}

TEST(Create, BadRequestsAre4xx) {
  TestServer s("create-bad");
  const std::string gguf = s.upload(TinyGguf());
  auto c = s.client();
  const std::string text = "not a gguf file";
  const std::string text_digest = kiln::store::sha256_of(text).str();
  ASSERT_EQ(c->Post("/api/blobs/" + text_digest, text, "text/plain")->status, 201);
  const std::string missing = kiln::store::sha256_of(std::string("never uploaded")).str();

  struct Case {
    json body;
    int status;
    std::string error;  // a fragment
  };
  const std::vector<Case> cases = {
      {{{"model", "m"}}, 400, "neither 'from' or 'files' was specified"},
      {{{"model", "m"}, {"modelfile", "FROM x"}}, 400, "'modelfile' field is no longer accepted"},
      {{{"from", "x"}}, 400, "invalid model name"},
      {{{"model", "m"}, {"from", "nope"}}, 404, "model 'nope' not found"},
      {{{"model", "m"}, {"from", "../x"}}, 400, "invalid model name"},
      {{{"model", "m"}, {"files", json::object()}}, 400, "no files provided"},
      {{{"model", "m"}, {"files", {{"/etc/passwd", gguf}}}}, 400, "file path must be relative"},
      {{{"model", "m"}, {"files", {{"../up.gguf", gguf}}}}, 400, "file path must be relative"},
      {{{"model", "m"}, {"files", {{"a.gguf", "sha256:zz"}}}}, 400, "invalid digest format"},
      {{{"model", "m"}, {"files", {{"a.gguf", 7}}}}, 400, "expected a digest string"},
      {{{"model", "m"}, {"files", {{"a.gguf", missing}}}}, 400, "was not uploaded"},
      {{{"model", "m"}, {"files", {{"a.gguf", text_digest}}}}, 400, "not in GGUF format"},
      {{{"model", "m"}, {"files", {{"a.gguf", gguf}}}, {"parameters", {{"temprature", 1}}}}, 400,
       "unknown parameter 'temprature'"},
      {{{"model", "m"}, {"files", {{"a.gguf", gguf}}}, {"parameters", {{"num_ctx", "lots"}}}}, 400, "num_ctx"},
      {{{"model", "m"}, {"files", {{"a.gguf", gguf}}}, {"parameters", {{"num_ctx", 1.5}}}}, 400, "integer"},
      {{{"model", "m"}, {"files", {{"a.gguf", gguf}}}, {"parameters", {{"stop", {1, 2}}}}}, 400, "array of strings"},
      {{{"model", "m"}, {"files", {{"a.gguf", gguf}}}, {"quantize", "q3_bogus"}}, 400, "q3_bogus"},
      {{{"model", "m"}, {"files", {{"a.gguf", gguf}}}, {"messages", {"hi"}}}, 400, "messages"},
      {{{"model", "m"}, {"files", {{"a.gguf", gguf}}}, {"adapters", {{"a", gguf}}}}, 400, "adapters"},
      {{{"model", "m"}, {"files", {{"a.gguf", gguf}}}, {"license", 5}}, 400, "license"},
  };
  for (const auto& k : cases) {
    for (bool stream : {true, false}) {
      json body = k.body;
      body["stream"] = stream;
      auto r = c->Post("/api/create", body.dump(), "application/json");
      ASSERT_TRUE(r) << body;
      EXPECT_EQ(r->status, k.status) << body << " -> " << r->body;
      EXPECT_NE(error_of(r).find(k.error), std::string::npos) << body << " -> " << r->body;
    }
  }
  EXPECT_EQ(body_json(c->Get("/api/tags")), json({{"models", json::array()}}));
}

TEST(Create, QuantizesAnF32Model) {
  TestServer s("create-quant");
  auto r = s.create("tiny-q8", TinyGguf(), {{"quantize", "q8_0"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json tags = body_json(s.client()->Get("/api/tags"));
  ASSERT_EQ(tags["models"].size(), 1u);
  EXPECT_EQ(tags["models"][0]["details"]["quantization_level"], "Q8_0");
  const json show = body_json(s.client()->Post("/api/show", R"({"model": "tiny-q8", "verbose": true})", "application/json"));
  bool any_q8 = false;
  for (const auto& t : show["tensors"]) any_q8 |= t["type"] == "Q8_0";
  EXPECT_TRUE(any_q8) << show["tensors"].dump();
}
