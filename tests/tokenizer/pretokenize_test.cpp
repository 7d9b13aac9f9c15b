// The pre-tokenizer regexes (PCRE2) against HF tokenizers' Split on the corpus.
#include <gtest/gtest.h>

#include "fixture_util.h"
#include "core/error.h"
#include "tokenizer/pretokenize.h"

namespace kiln::tok {
namespace {

void check_pretok(const std::string& name) {
  const auto corpus = testing::load_corpus();
  const auto j = testing::load_json(testing::fixture_dir() / ("pretok_" + name + ".json"));
  const auto& cases = j.at("cases");
  ASSERT_EQ(cases.size(), corpus.size());
  PreTokenizer pre(pre_tokenizer_info(name).regex);
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + corpus[i].name);
    std::vector<std::string_view> got;
    pre.split(corpus[i].text, got);
    const auto want = cases[i].at("pieces").get<std::vector<std::string>>();
    EXPECT_EQ(std::vector<std::string>(got.begin(), got.end()), want);
  }
}

TEST(PreTokenizer, Gpt2MatchesHf) { check_pretok("gpt2"); }
TEST(PreTokenizer, Llama3MatchesHf) { check_pretok("llama3"); }
TEST(PreTokenizer, Qwen2MatchesHf) { check_pretok("qwen2"); }

TEST(PreTokenizer, UnknownNameIsAnErrorNamingIt) {
  try {
    pre_tokenizer_info("no-such-pre");
    FAIL() << "expected an error";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-pre"), std::string::npos);
  }
}

TEST(PreTokenizer, InvalidUtf8BytesAreKept) {
  PreTokenizer pre(pre_tokenizer_info("qwen2").regex);
  const std::string text = "ab\xff\xfe cd \xc3 e\xe2\x82";
  std::vector<std::string_view> got;
  pre.split(text, got);
  std::string joined;
  for (auto p : got) joined += p;
  EXPECT_EQ(joined, text);
}

TEST(PreTokenizer, HugeWhitespaceRunDoesNotFail) {
  PreTokenizer pre(pre_tokenizer_info("llama3").regex);
  const std::string text = "a" + std::string(200000, ' ') + "b" + std::string(100000, '\n');
  std::vector<std::string_view> got;
  pre.split(text, got);
  std::string joined;
  for (auto p : got) joined += p;
  EXPECT_EQ(joined, text);
}

}  // namespace
}  // namespace kiln::tok
