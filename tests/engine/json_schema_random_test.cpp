// Property: generating by walking the token mask with random choices over a
// toy vocabulary always yields JSON that parses and validates against the
// schema (json_schema_validate, the standard semantics).
#include <gtest/gtest.h>

#include <random>

#include "engine/grammar_mask.h"
#include "engine/json_schema.h"
#include "engine/json_schema_validate.h"
#include "grammar_test_vocab.h"

namespace kiln::engine {
namespace {

using json = nlohmann::ordered_json;

const char* kSchemas[] = {
    R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string","maxLength":5},"c":{"type":"boolean"}},"required":["b"]})",
    R"({"type":"array","items":{"type":"number"},"minItems":1,"maxItems":4})",
    R"({"type":"array","prefixItems":[{"type":"integer","minimum":-20,"maximum":300},{"enum":["x","y\"z",null]}],"minItems":2,"maxItems":2})",
    R"({"type":"object","properties":{"id":{"type":"integer","exclusiveMinimum":0}},"required":["id"],"additionalProperties":{"type":["string","null"]}})",
    R"({"type":"object","properties":{"d":{"type":"string","format":"date"},"t":{"type":"string","format":"date-time"},"u":{"type":"string","format":"uuid"}},"required":["d","t","u"]})",
    R"({"type":"string","pattern":"^[a-c]{1,3}(-\\d+)?$"})",
    R"({"$defs":{"Color":{"enum":["red","green"],"type":"string"},
        "Pet":{"properties":{"name":{"type":"string","minLength":1,"maxLength":4},"color":{"$ref":"#/$defs/Color"},
                             "age":{"anyOf":[{"type":"integer","minimum":0,"maximum":30},{"type":"null"}],"default":null}},
               "required":["name","color"],"type":"object"}},
       "properties":{"owner":{"type":"string","maxLength":3},"pets":{"items":{"$ref":"#/$defs/Pet"},"maxItems":3,"type":"array"}},
       "required":["owner","pets"],"type":"object"})",
    R"({"definitions":{"node":{"type":"object","properties":{"v":{"type":"integer","minimum":0,"maximum":9},
        "kids":{"type":"array","items":{"$ref":"#/definitions/node"},"maxItems":2}},"required":["v"]}},"$ref":"#/definitions/node"})",
    R"({"type":"object"})",
    R"({"oneOf":[{"type":"null"},{"type":"object","properties":{"k":{"const":[1,{"z":true}]}},"required":["k"]}]})",
};

bool is_closing(std::string_view piece) { return piece.find_first_of("\"]}") != std::string_view::npos; }

TEST(JsonSchemaRandom, GeneratedDocumentsValidate) {
  const ToyVocab v = toy_vocab();
  auto trie = std::make_shared<TokenTrie>(v.pieces, v.matchable, v.eog);
  std::mt19937 rng(2024);
  int finished_total = 0, runs_total = 0;
  for (const char* text : kSchemas) {
    const json schema = json::parse(text);
    SCOPED_TRACE(text);
    auto g = json_schema_grammar(schema);
    TokenMasker masker(g, trie);
    std::vector<uint64_t> mask(masker.mask_words());
    int finished = 0;
    for (int run = 0; run < 40; ++run) {
      GrammarMatcher m(g);
      std::string out;
      bool done = false;
      for (int step = 0; step < 400 && !done; ++step) {
        masker.fill_mask(m, mask);
        std::vector<int32_t> allowed, closing;
        for (size_t i = 0; i < v.pieces.size(); ++i) {
          if (!((mask[i >> 6] >> (i & 63)) & 1)) continue;
          allowed.push_back(static_cast<int32_t>(i));
          const bool eog = std::find(v.eog.begin(), v.eog.end(), static_cast<int32_t>(i)) != v.eog.end();
          if (eog || is_closing(v.pieces[i])) closing.push_back(static_cast<int32_t>(i));
        }
        ASSERT_FALSE(allowed.empty()) << "dead end after '" << out << "'";
        // Lean towards closing tokens so documents end in reasonable time.
        const auto& pool = (!closing.empty() && rng() % 10 < 4) ? closing : allowed;
        const int32_t tok = pool[rng() % pool.size()];
        if (std::find(v.eog.begin(), v.eog.end(), tok) != v.eog.end()) {
          done = true;
          break;
        }
        ASSERT_TRUE(m.accept(v.pieces[tok])) << "mask allowed a token the matcher refuses";
        out += v.pieces[tok];
      }
      ++runs_total;
      if (!done) continue;
      ++finished;
      json doc;
      ASSERT_NO_THROW(doc = json::parse(out)) << "not JSON: " << out;
      ASSERT_EQ(json_schema_validate(schema, doc), "") << out;
    }
    finished_total += finished;
    EXPECT_GT(finished, 10) << "too few generations finished";
  }
  EXPECT_GT(finished_total, runs_total / 2);
}

}  // namespace
}  // namespace kiln::engine
