// Create from an uploaded blob, then tags, show, copy and delete, with
// Ollama's answers and errors.
#include <regex>

#include "server_fixture.h"
#include "store/humanize.h"

using namespace kiln::server_test;

namespace {

const std::regex kRfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d))");

json find_model(const json& tags, const std::string& name) {
  for (const auto& m : tags["models"])
    if (m["name"] == name) return m;
  return json();
}

}  // namespace

TEST(Models, CreateFromBlobThenTagsShowCopyDelete) {
  TestServer s("lifecycle");
  TinyGguf model;
  model.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}{% if tools %}tools{% endif %}";
  auto r = s.create("tiny", model,
                    {{"system", "Be brief."},
                     {"parameters", {{"temperature", 0.5}, {"stop", {"</s>", "<eot>"}}, {"num_ctx", 2048}}},
                     {"license", "MIT"},
                     {"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r), json({{"status", "success"}}));

  auto c = s.client();
  // /api/tags
  r = c->Get("/api/tags");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const json tags = body_json(r);
  ASSERT_EQ(tags["models"].size(), 1u);
  const json m = tags["models"][0];
  EXPECT_EQ(m["name"], "tiny:latest");
  EXPECT_EQ(m["model"], "tiny:latest");
  EXPECT_TRUE(std::regex_match(m["modified_at"].get<std::string>(), kRfc3339)) << m["modified_at"];
  const std::string manifest_path = (s.store() / "manifests/registry.ollama.ai/library/tiny/latest").string();
  EXPECT_EQ(m["digest"], kiln::store::sha256_of_file(manifest_path).hex());
  const json manifest = json::parse(slurp(manifest_path));
  uint64_t size = manifest["config"]["size"].get<uint64_t>();
  for (const auto& l : manifest["layers"]) size += l["size"].get<uint64_t>();
  EXPECT_EQ(m["size"], size);
  EXPECT_EQ(m["details"]["format"], "gguf");
  EXPECT_EQ(m["details"]["family"], "llama");
  EXPECT_EQ(m["details"]["families"], json::array({"llama"}));
  EXPECT_EQ(m["details"]["parameter_size"], kiln::store::human_number(model.parameter_count()));
  EXPECT_EQ(m["details"]["quantization_level"], "F32");
  EXPECT_EQ(c->Head("/api/tags")->status, 200);

  // /api/show
  r = c->Post("/api/show", json({{"model", "TINY"}}).dump(), "application/json");  // names ignore case
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json show = body_json(r);
  EXPECT_EQ(show["system"], "Be brief.");
  EXPECT_EQ(show["template"], model.chat_template);
  EXPECT_EQ(show["license"], "MIT");
  EXPECT_EQ(show["messages"], json::array({{{"role", "user"}, {"content", "hi"}}}));
  const std::string params = show["parameters"];
  EXPECT_NE(params.find("num_ctx                        2048"), std::string::npos) << params;
  EXPECT_NE(params.find("stop                           \"</s>\""), std::string::npos) << params;
  EXPECT_NE(params.find("stop                           \"<eot>\""), std::string::npos) << params;
  EXPECT_NE(params.find("temperature                    0.5"), std::string::npos) << params;
  EXPECT_NE(show["modelfile"].get<std::string>().find("SYSTEM Be brief."), std::string::npos);
  EXPECT_EQ(show["details"]["family"], "llama");
  EXPECT_EQ(show["capabilities"], json::array({"completion", "tools"}));
  EXPECT_TRUE(std::regex_match(show["modified_at"].get<std::string>(), kRfc3339));
  const json info = show["model_info"];
  EXPECT_EQ(info["general.architecture"], "llama");
  EXPECT_EQ(info["general.file_type"], 0);
  EXPECT_EQ(info["general.parameter_count"], model.parameter_count());
  EXPECT_EQ(info["llama.context_length"], model.context_length);
  EXPECT_EQ(info["llama.attention.layer_norm_rms_epsilon"].dump(), "1e-06");  // float32 shortest form
  EXPECT_EQ(info["tokenizer.ggml.model"], "llama");
  EXPECT_EQ(info["tokenizer.ggml.tokens"], json::array());  // long arrays emptied without verbose
  EXPECT_FALSE(info.contains("general.name"));
  EXPECT_FALSE(info.contains("tokenizer.chat_template"));
  EXPECT_FALSE(show.contains("tensors"));

  r = c->Post("/api/show", json({{"model", "tiny"}, {"verbose", true}}).dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  show = body_json(r);
  EXPECT_EQ(show["model_info"]["tokenizer.ggml.tokens"].size(), model.tokens);
  EXPECT_EQ(show["model_info"]["tokenizer.ggml.tokens"][3], "tok3");
  ASSERT_EQ(show["tensors"].size(), model.tensors.size());
  EXPECT_EQ(show["tensors"][0], json({{"name", "token_embd.weight"}, {"type", "F32"}, {"shape", {32, 16}}}));

  // /api/copy
  r = c->Post("/api/copy", json({{"source", "tiny"}, {"destination", "other/tiny-copy:v1"}}).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  const json tags2 = body_json(c->Get("/api/tags"));
  EXPECT_EQ(tags2["models"].size(), 2u);
  const json copy = find_model(tags2, "other/tiny-copy:v1");
  ASSERT_TRUE(copy.is_object()) << tags2.dump();
  EXPECT_EQ(copy["digest"], m["digest"]);  // the same manifest

  // /api/delete: the copy keeps every shared blob alive.
  const size_t blobs_before = std::distance(fs::directory_iterator(s.store() / "blobs"), fs::directory_iterator());
  r = c->Delete("/api/delete", json({{"model", "tiny"}}).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(std::distance(fs::directory_iterator(s.store() / "blobs"), fs::directory_iterator()), blobs_before);
  EXPECT_FALSE(find_model(body_json(c->Get("/api/tags")), "tiny:latest").is_object());
  r = c->Post("/api/show", json({{"model", "other/tiny-copy:v1"}}).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  // Deleting the last name removes the blobs.
  r = c->Delete("/api/delete", json({{"name", "other/tiny-copy:v1"}}).dump(), "application/json");  // old field name
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(c->Get("/api/tags")), json({{"models", json::array()}}));
  EXPECT_EQ(std::distance(fs::directory_iterator(s.store() / "blobs"), fs::directory_iterator()), 0);
}

TEST(Models, UnknownAndInvalidNames) {
  TestServer s("names");
  auto c = s.client();
  auto r = c->Post("/api/show", R"({"model": "nope"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_of(r), "model 'nope' not found");
  r = c->Delete("/api/delete", R"({"model": "nope"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_of(r), "model 'nope' not found");
  r = c->Post("/api/copy", R"({"source": "nope", "destination": "x"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_of(r), "model \"nope\" not found");

  // Names that would reach outside manifests/ never parse.
  for (const std::string bad : std::vector<std::string>{"../../etc/passwd", "..", "a/../b", "/abs", "x:../../y", "a/b/c/d/e", "a\\b",
                                "sp ace", std::string("nul\0l", 5), "~/x", ""}) {
    const json name = bad;
    r = c->Post("/api/show", json({{"model", bad}}).dump(), "application/json");
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 400) << bad << " -> " << r->body;
    r = c->Delete("/api/delete", json({{"model", bad}}).dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad << " -> " << r->body;
    r = c->Post("/api/copy", json({{"source", bad}, {"destination", "ok"}}).dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    r = c->Post("/api/create", json({{"model", bad}, {"from", "x"}}).dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
  }
  EXPECT_FALSE(fs::exists(s.store() / "manifests") && !fs::is_empty(s.store() / "manifests"));
}

TEST(Models, CopyToAnInvalidDestination) {
  TestServer s("copy-bad");
  ASSERT_EQ(s.create("tiny", TinyGguf())->status, 200);
  auto r = s.client()->Post("/api/copy", R"({"source": "tiny", "destination": "../../x"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_of(r), "destination \"../../x\" is invalid");
}
