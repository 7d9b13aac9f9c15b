// Real Pydantic schemas with documents labelled by Python's `jsonschema`
// (tests/fixtures/grammar/gen_fixtures.py): kiln's validator agrees with
// every label; the grammar accepts what Pydantic serialized and rejects
// every invalid document.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine/grammar_matcher.h"
#include "engine/json_schema.h"
#include "engine/json_schema_validate.h"

namespace kiln::engine {
namespace {

using json = nlohmann::ordered_json;

bool grammar_accepts(const std::shared_ptr<const Grammar>& g, const std::string& text) {
  GrammarMatcher m(g);
  return m.accept(text) && m.is_complete();
}

TEST(JsonSchemaFixtures, PydanticSchemasAgreeWithJsonschema) {
  std::ifstream in(std::string(KILN_FIXTURES) + "/grammar/pydantic_schemas.json");
  ASSERT_TRUE(in) << "missing fixture; run tests/fixtures/grammar/gen_fixtures.py";
  std::stringstream ss;
  ss << in.rdbuf();
  const json all = json::parse(ss.str());
  ASSERT_GE(all.size(), 4u);
  for (const json& model : all) {
    SCOPED_TRACE(model["name"].get<std::string>());
    const json& schema = model["schema"];
    std::shared_ptr<const Grammar> g;
    ASSERT_NO_THROW(g = json_schema_grammar(schema)) << json_schema_to_gbnf(schema);
    int valid = 0, invalid = 0;
    for (const json& d : model["docs"]) {
      const std::string text = d["text"].get<std::string>();
      const json doc = json::parse(text);
      const bool label = d["valid"].get<bool>();
      const std::string verdict = json_schema_validate(schema, doc);
      EXPECT_EQ(verdict.empty(), label) << text << " -> " << verdict;
      if (label && d["origin"] == "model") {
        EXPECT_TRUE(grammar_accepts(g, text)) << text;
        EXPECT_TRUE(grammar_accepts(g, doc.dump(2))) << doc.dump(2);
        ++valid;
      }
      if (!label) {
        EXPECT_FALSE(grammar_accepts(g, text)) << text;
        ++invalid;
      }
    }
    EXPECT_GT(valid, 0);
    EXPECT_GT(invalid, 0);
  }
}

}  // namespace
}  // namespace kiln::engine
