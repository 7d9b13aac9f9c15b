// POST /api/embed and the legacy /api/embeddings on the real gemma 270M
// model (skipped without it).
#include <cmath>

#include "generate_fixture.h"

using namespace kiln::server_test;

namespace {

class EmbedApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (fs::exists(gemma_file())) server_ = new ModelServer("embed", false);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!server_) GTEST_SKIP() << "no " << gemma_file();
  }
  static ModelServer* server_;
};
ModelServer* EmbedApi::server_ = nullptr;

}  // namespace

TEST_F(EmbedApi, NormalizedVectorsOnePerInput) {
  auto r = server_->post("/api/embed", {{"model", "gemma"}, {"input", {"The sky is blue.", "Grass is green."}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = body_json(r);
  EXPECT_EQ(j["model"], "gemma");
  ASSERT_EQ(j["embeddings"].size(), 2u);
  const size_t dim = j["embeddings"][0].size();
  EXPECT_EQ(dim, 640u);  // gemma 3 270M's embedding length
  EXPECT_EQ(j["embeddings"][1].size(), dim);
  for (const auto& v : j["embeddings"]) EXPECT_NEAR(norm2(v), 1.0, 1e-4);
  EXPECT_NE(j["embeddings"][0], j["embeddings"][1]);
  EXPECT_GT(j["prompt_eval_count"].get<int>(), 4);
  EXPECT_GT(j["total_duration"].get<int64_t>(), 0);
  EXPECT_TRUE(j.contains("load_duration"));

  // One string, and the same text again: the same vector.
  r = server_->post("/api/embed", {{"model", "gemma"}, {"input", "The sky is blue."}});
  ASSERT_TRUE(r);
  const json again = body_json(r);
  ASSERT_EQ(again["embeddings"].size(), 1u);
  for (size_t i = 0; i < dim; ++i)
    EXPECT_NEAR(again["embeddings"][0][i].get<double>(), j["embeddings"][0][i].get<double>(), 1e-5);
}

TEST_F(EmbedApi, DimensionsAndTruncation) {
  auto r = server_->post("/api/embed", {{"model", "gemma"}, {"input", "hello"}, {"dimensions", 8}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json v = body_json(r)["embeddings"][0];
  EXPECT_EQ(v.size(), 8u);
  EXPECT_NEAR(norm2(v), 1.0, 1e-4);

  const std::string long_text(2000, 'a');
  r = server_->post("/api/embed",
                    {{"model", "gemma"}, {"input", long_text}, {"truncate", false}, {"options", {{"num_ctx", 64}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("exceeds the context length"), std::string::npos) << r->body;
  r = server_->post("/api/embed", {{"model", "gemma"}, {"input", long_text}, {"options", {{"num_ctx", 64}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["prompt_eval_count"], 64);
}

TEST_F(EmbedApi, LegacyEmbeddingsAreNotNormalized) {
  auto r = server_->post("/api/embeddings", {{"model", "gemma"}, {"prompt", "The sky is blue."}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = body_json(r);
  ASSERT_EQ(j["embedding"].size(), 640u);
  EXPECT_GT(std::fabs(norm2(j["embedding"]) - 1.0), 1e-3);
  r = server_->post("/api/embeddings", {{"model", "gemma"}, {"prompt", ""}});
  ASSERT_TRUE(r);
  EXPECT_EQ(body_json(r), json({{"embedding", json::array()}}));
}

TEST_F(EmbedApi, Errors) {
  struct Case {
    json body;
    int status;
    std::string message;
  };
  for (const Case& k : std::vector<Case>{
           {{{"input", "x"}}, 400, "model is required"},
           {{{"model", "nosuch"}, {"input", "x"}}, 404, "not found"},
           {{{"model", "gemma"}, {"input", 3}}, 400, "invalid input type"},
           {{{"model", "gemma"}, {"input", {"a", 1}}}, 400, "invalid input type"},
           {{{"model", "gemma"}, {"input", "x"}, {"options", {{"num_ctx", 1000000000}}}}, 400, "num_ctx"},
       }) {
    auto r = server_->post("/api/embed", k.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, k.status) << k.body << " -> " << r->body;
    EXPECT_NE(error_of(r).find(k.message), std::string::npos) << r->body;
  }
  auto r = server_->post("/api/embed", {{"model", "gemma"}, {"input", json::array()}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r)["embeddings"], json::array());
}
