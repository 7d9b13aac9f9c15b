// TokenMasker against brute force (every token's bytes fed to a matcher
// copy), allocation-free steps after warm-up, and timing on the real Qwen
// vocabulary (skipped when the model file is absent).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "core/alloc_counter.h"
#include "engine/grammar_mask.h"
#include "engine/json_schema.h"
#include "gguf/gguf.h"
#include "grammar_test_vocab.h"
#include "tokenizer/tokenizer.h"

namespace kiln::engine {
namespace {

std::vector<int32_t> brute_force(GrammarMatcher& m, const ToyVocab& v) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < v.pieces.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    if (std::find(v.eog.begin(), v.eog.end(), id) != v.eog.end()) {
      if (m.is_complete()) out.push_back(id);
    } else if (v.matchable[i] && m.can_accept(v.pieces[i])) {
      out.push_back(id);
    }
  }
  return out;
}

void check_against_brute_force(const std::shared_ptr<const Grammar>& g, int walks, uint32_t seed) {
  const ToyVocab v = toy_vocab();
  auto trie = std::make_shared<TokenTrie>(v.pieces, v.matchable, v.eog);
  TokenMasker masker(g, trie);
  std::mt19937 rng(seed);
  int states = 0;
  for (int w = 0; w < walks; ++w) {
    GrammarMatcher m(g);
    for (int step = 0; step < 60; ++step) {
      std::vector<int32_t> fast = masker.allowed_tokens(m);
      std::vector<int32_t> slow = brute_force(m, v);
      ASSERT_EQ(fast, slow) << "walk " << w << " step " << step;
      ++states;
      std::vector<int32_t> text;
      for (int32_t t : fast)
        if (std::find(v.eog.begin(), v.eog.end(), t) == v.eog.end()) text.push_back(t);
      if (text.empty()) break;
      ASSERT_TRUE(m.accept(v.pieces[text[rng() % text.size()]]));
    }
  }
  EXPECT_GT(states, walks);
}

TEST(GrammarMask, MatchesBruteForceOnJsonGrammar) {
  check_against_brute_force(Grammar::parse(json_value_gbnf()), 40, 1);
}

TEST(GrammarMask, MatchesBruteForceOnSchemaGrammar) {
  auto schema = nlohmann::ordered_json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "maxLength": 6},
      "age": {"type": "integer", "minimum": 0, "maximum": 150},
      "tags": {"type": "array", "items": {"enum": ["a", "b\"c", "é"]}, "maxItems": 3},
      "ok": {"type": ["boolean", "null"]}
    },
    "required": ["name"]
  })");
  check_against_brute_force(json_schema_grammar(schema), 40, 2);
}

TEST(GrammarMask, MatchesBruteForceOnUnicodeAndNestedRules) {
  auto g = Grammar::parse(
      "root ::= item (\" \" item)*\n"
      "item ::= [^ a-z]+ | \"(\" root \")\" | [a-c]{1,2} \"x\"?\n");
  check_against_brute_force(g, 40, 3);
}

TEST(GrammarMask, EndOfGenerationOnlyWhenComplete) {
  const ToyVocab v = toy_vocab();
  auto trie = std::make_shared<TokenTrie>(v.pieces, v.matchable, v.eog);
  auto g = Grammar::parse("root ::= \"ab\" \"c\"?");
  TokenMasker masker(g, trie);
  GrammarMatcher m(g);
  auto has_eog = [&](const std::vector<int32_t>& ids) {
    return std::find(ids.begin(), ids.end(), v.eog[0]) != ids.end();
  };
  EXPECT_FALSE(has_eog(masker.allowed_tokens(m)));
  ASSERT_TRUE(m.accept("ab"));
  EXPECT_TRUE(has_eog(masker.allowed_tokens(m)));
  ASSERT_TRUE(m.accept("c"));
  auto last = masker.allowed_tokens(m);
  EXPECT_EQ(last, std::vector<int32_t>(v.eog.begin(), v.eog.end()));
}

TEST(GrammarMask, NoAllocationAfterWarmUp) {
  const ToyVocab v = toy_vocab();
  auto trie = std::make_shared<TokenTrie>(v.pieces, v.matchable, v.eog);
  auto g = Grammar::parse(json_object_gbnf());
  TokenMasker masker(g, trie);
  std::vector<uint64_t> mask(masker.mask_words());
  const std::string doc = R"({"key": [1, 2.5, {"x": "yz"}], "b": true})";
  // Warm up on the same document: every top and array size is met once.
  GrammarMatcher m(g);
  for (int pass = 0; pass < 2; ++pass) {
    m.reset();  // keeps the arrays' capacity
    runtime::AllocCounter counter;
    for (char c : doc) {
      masker.fill_mask(m, mask);
      ASSERT_TRUE(m.accept_byte(static_cast<uint8_t>(c)));
    }
    if (pass == 1) {
      EXPECT_EQ(counter.this_thread().allocations, 0u);
    }
  }
}

std::filesystem::path qwen_model() {
  const char* env = std::getenv("KILN_TEST_MODELS");
  std::filesystem::path dir = env && *env ? env : std::filesystem::path(std::getenv("HOME") ? std::getenv("HOME") : "") / ".cache/kiln/models";
  return dir / "qwen-0.5b.gguf";
}

TEST(GrammarMask, QwenVocabularyTiming) {
  const auto path = qwen_model();
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path;
  gguf::File file = gguf::File::open(path.string());
  tok::Tokenizer tokenizer = tok::Tokenizer::from_gguf(file);
  auto t0 = std::chrono::steady_clock::now();
  auto trie = std::make_shared<TokenTrie>(tokenizer);
  auto t1 = std::chrono::steady_clock::now();
  auto schema = nlohmann::ordered_json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string"},
      "age": {"type": "integer"},
      "email": {"type": "string", "format": "email"},
      "tags": {"type": "array", "items": {"type": "string"}},
      "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                  "required": ["city", "zip"]}
    },
    "required": ["name", "age", "email", "tags", "address"]
  })");
  auto g = json_schema_grammar(schema);
  TokenMasker masker(g, trie);
  std::vector<uint64_t> mask(masker.mask_words());
  const std::string doc =
      R"({"name": "Ada Lovelace wrote the first program", "age": 36, "email": "ada@example.com", )"
      R"("tags": ["math", "poetry", "engines"], "address": {"city": "London", "zip": "W1"}})";
  // Feed the document token by token as the model would produce it.
  std::vector<int32_t> ids = tokenizer.encode(doc, false, false);
  double first_pass_ms = 0, worst_ms = 0, total_ms = 0;
  size_t allowed_sum = 0;
  for (int pass = 0; pass < 2; ++pass) {
    GrammarMatcher m(g);
    worst_ms = total_ms = 0;
    allowed_sum = 0;
    for (int32_t id : ids) {
      auto a = std::chrono::steady_clock::now();
      masker.fill_mask(m, mask);
      auto b = std::chrono::steady_clock::now();
      const double ms = std::chrono::duration<double, std::milli>(b - a).count();
      total_ms += ms;
      worst_ms = std::max(worst_ms, ms);
      ASSERT_TRUE((mask[id >> 6] >> (id & 63)) & 1) << "token " << id << " '" << tokenizer.piece(id) << "' masked out";
      for (uint64_t w : mask) allowed_sum += static_cast<size_t>(__builtin_popcountll(w));
      ASSERT_TRUE(m.accept(tokenizer.piece(id)));
    }
    if (pass == 0) first_pass_ms = total_ms;
    ASSERT_TRUE(m.is_complete());
  }
  std::printf("[ qwen mask ] vocab %zu, trie %zu nodes built in %.1f ms; %zu steps: first pass (cache cold) %.1f ms total, "
              "warm: mean %.3f ms, worst %.3f ms per step, %zu allowed tokens per step on average, %zu cache entries\n",
              trie->vocab_size(), trie->node_count(), std::chrono::duration<double, std::milli>(t1 - t0).count(), ids.size(),
              first_pass_ms, total_ms / static_cast<double>(ids.size()), worst_ms, allowed_sum / ids.size(),
              masker.cache_entries());
}

}  // namespace
}  // namespace kiln::engine
