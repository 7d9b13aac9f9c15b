// Token ids of the two real test models against the HF reference fixtures
// (tools/gen_tokenizer_fixtures.py). Every case must match exactly. When a
// model file is missing the test is skipped with a message naming the path.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>

#include "fixture_util.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace kiln::tok {
namespace {

using testing::load_corpus;
using testing::load_json;
using testing::model_path;

struct Loaded {
  gguf::File file;
  Tokenizer tok;
  double build_ms;
};

// Models are opened once per test binary: parsing the 262k-token metadata is
// the GGUF reader's cost, not what these tests are about.
const Loaded* load_model(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Loaded>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  const auto path = model_path(name);
  std::unique_ptr<Loaded> loaded;
  if (std::filesystem::exists(path)) {
    gguf::File f = gguf::File::open(path);
    const auto t0 = std::chrono::steady_clock::now();
    Tokenizer tok = Tokenizer::from_gguf(f);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    loaded.reset(new Loaded{std::move(f), std::move(tok), ms});
  }
  return cache.emplace(name, std::move(loaded)).first->second.get();
}

#define LOAD_OR_SKIP(var, file)                                                                  \
  const Loaded* var = load_model(file);                                                          \
  if (var == nullptr) GTEST_SKIP() << "model file missing: " << model_path(file)                 \
                                   << " (set KILN_TEST_MODELS); HF fixture comparison NOT run"

std::string show(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

void check_fixture(const Loaded& m, const std::string& fixture) {
  const auto corpus = load_corpus();
  const auto j = load_json(testing::fixture_dir() / fixture);
  const auto& cases = j.at("cases");
  ASSERT_EQ(cases.size(), corpus.size()) << "fixture and corpus disagree; regenerate both";
  size_t checked = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const std::string& text = corpus[i].text;
    ASSERT_EQ(c.at("name").get<std::string>(), corpus[i].name);
    SCOPED_TRACE("case " + corpus[i].name);
    const auto ids = c.at("ids").get<std::vector<int32_t>>();
    const auto ids_special = c.at("ids_add_special").get<std::vector<int32_t>>();
    const auto ids_plain = c.at("ids_no_parse_special").get<std::vector<int32_t>>();
    const auto got = m.tok.encode(text, false, true);
    EXPECT_EQ(got, ids) << "got " << show(got) << "\nwant " << show(ids);
    EXPECT_EQ(m.tok.encode(text, true, true), ids_special);
    const auto got_plain = m.tok.encode(text, false, false);
    EXPECT_EQ(got_plain, ids_plain) << "got " << show(got_plain) << "\nwant " << show(ids_plain);
    EXPECT_EQ(m.tok.decode(ids), c.at("decoded").get<std::string>());
    EXPECT_EQ(m.tok.decode(ids_special, true), c.at("decoded_skip_special").get<std::string>());
    // Where HF round-trips the text, so must we; streaming equals whole decode.
    if (c.at("decoded").get<std::string>() == text) EXPECT_EQ(m.tok.decode(got), text);
    StreamDecoder stream(m.tok);
    std::string streamed;
    for (int32_t id : ids) streamed += stream.push(id);
    streamed += stream.flush();
    EXPECT_EQ(streamed, m.tok.decode(ids));
    ++checked;
  }
  EXPECT_EQ(checked, corpus.size());
}

void report_speed(const Loaded& m, const char* label) {
  std::string text;
  for (const auto& c : load_corpus()) text += c.text + "\n";
  while (text.size() < (1u << 20)) text += text;
  const auto t0 = std::chrono::steady_clock::now();
  const auto ids = m.tok.encode(text, false, true);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ speed    ] %s: build %.1f ms for %zu tokens; encode %.2f MB/s (%zu bytes -> %zu tokens)\n",
              label, m.build_ms, m.tok.size(), text.size() / s / 1e6, text.size(), ids.size());
  EXPECT_FALSE(ids.empty());
}

TEST(RealGemma3, MatchesHfFixtures) {
  LOAD_OR_SKIP(m, "gemma-3-270m-q4_k_m.gguf");
  check_fixture(*m, "gemma3.json");
}

TEST(RealGemma3, Metadata) {
  LOAD_OR_SKIP(m, "gemma-3-270m-q4_k_m.gguf");
  EXPECT_EQ(m->tok.algorithm(), Algorithm::SentencePiece);
  EXPECT_EQ(m->tok.size(), 262144u);
  EXPECT_EQ(m->tok.token_text(m->tok.bos()), "<bos>");
  EXPECT_EQ(m->tok.token_text(m->tok.eos()), "<eos>");
  EXPECT_TRUE(m->tok.add_bos());
  EXPECT_FALSE(m->tok.add_space_prefix());
  EXPECT_TRUE(m->tok.is_eog(m->tok.eos()));
  EXPECT_TRUE(m->tok.is_eog(m->tok.token_id("<end_of_turn>")));
  EXPECT_FALSE(m->tok.is_eog(m->tok.token_id("<start_of_turn>")));
  EXPECT_FALSE(m->tok.is_eog(m->tok.bos()));
}

TEST(RealGemma3, Speed) {
  LOAD_OR_SKIP(m, "gemma-3-270m-q4_k_m.gguf");
  report_speed(*m, "gemma3");
}

TEST(RealQwen2, MatchesHfFixtures) {
  LOAD_OR_SKIP(m, "qwen-0.5b.gguf");
  check_fixture(*m, "qwen2.json");
}

TEST(RealQwen2, Metadata) {
  LOAD_OR_SKIP(m, "qwen-0.5b.gguf");
  EXPECT_EQ(m->tok.algorithm(), Algorithm::ByteLevelBpe);
  EXPECT_EQ(m->tok.pre(), "qwen2");
  EXPECT_FALSE(m->tok.add_bos());
  EXPECT_EQ(m->tok.token_text(m->tok.eos()), "<|im_end|>");
  EXPECT_TRUE(m->tok.is_eog(m->tok.token_id("<|im_end|>")));
  EXPECT_TRUE(m->tok.is_eog(m->tok.token_id("<|endoftext|>")));
  EXPECT_FALSE(m->tok.is_eog(m->tok.token_id("<|im_start|>")));
}

TEST(RealQwen2, Speed) {
  LOAD_OR_SKIP(m, "qwen-0.5b.gguf");
  report_speed(*m, "qwen2");
}

}  // namespace
}  // namespace kiln::tok
