// JSON schema -> grammar: documents that must be accepted (compact and
// pretty-printed) or rejected, each also checked with the validator so the
// expectations themselves are consistent; errors for unsupported schemas;
// integer ranges against arithmetic; patterns against std::regex.
#include <gtest/gtest.h>

#include <random>
#include <regex>

#include "core/error.h"
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

struct SchemaCase {
  const char* name;
  const char* schema;
  std::vector<const char*> accept;
  std::vector<const char*> reject;  // valid JSON text the grammar must refuse
};

const std::vector<SchemaCase>& cases() {
  static const std::vector<SchemaCase> c = {
      {"object with required and optional properties",
       R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"boolean"}},"required":["b"]})",
       {R"({"b":"x"})", R"({"a":1,"b":"x"})", R"({"b":"x","c":true})", R"({"a":-7,"b":"","c":false})"},
       {R"({})", R"({"a":1})", R"({"b":1})", R"({"b":"x","a":1})", R"({"b":"x","d":1})", R"([])", R"("b")"}},
      {"all optional",
       R"({"type":"object","properties":{"a":{"type":"null"},"b":{"type":"number"}}})",
       {R"({})", R"({"a":null})", R"({"b":1.5e3})", R"({"a":null,"b":-0.25})"},
       {R"({"b":1,"a":null})", R"({"a":1})"}},
      {"additional properties allowed after the declared ones",
       R"({"type":"object","properties":{"id":{"type":"integer"}},"required":["id"],"additionalProperties":{"type":"string"}})",
       {R"({"id":1})", R"({"id":1,"x":"y","z":"w"})"},
       {R"({"id":1,"x":2})", R"({"x":"y"})"}},
      {"free-form object", R"({"type":"object"})",
       {R"({})", R"({"k":[1,{"n":null}],"s":"t"})"}, {R"([1])", R"(1)"}},
      {"array bounds", R"({"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":3})",
       {R"([1,2])", R"([1,2,3])"}, {R"([])", R"([1])", R"([1,2,3,4])", R"([1,"2"])"}},
      {"array possibly empty", R"({"type":"array","items":{"type":"string"},"maxItems":2})",
       {R"([])", R"(["a"])", R"(["a","b"])"}, {R"(["a","b","c"])"}},
      {"tuple (Pydantic tuple[int, str])",
       R"({"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"minItems":2,"maxItems":2})",
       {R"([1,"a"])"}, {R"([1])", R"(["a",1])", R"([1,"a",2])"}},
      {"string lengths", R"({"type":"string","minLength":2,"maxLength":4})",
       {R"("ab")", R"("abcd")", R"("é中😀")", R"("\n\"")"}, {R"("a")", R"("abcde")"}},
      {"enum and const", R"({"anyOf":[{"enum":["red","green",1,null,{"a":[true]}]},{"const":"blue"}]})",
       {R"("red")", R"(1)", R"(null)", R"({"a":[true]})", R"("blue")"}, {R"("Red")", R"(2)", R"({"a":[false]})"}},
      {"nullable by type list", R"({"type":["string","null"]})", {R"("x")", R"(null)"}, {R"(1)", R"(false)"}},
      {"nullable keyword", R"({"type":"integer","nullable":true})", {R"(5)", R"(null)"}, {R"(1.5)"}},
      {"integer range", R"({"type":"integer","minimum":-5,"exclusiveMaximum":120})",
       {R"(-5)", R"(0)", R"(119)", R"(42)"}, {R"(-6)", R"(120)", R"(1000)", R"(2.5)"}},
      {"non-negative number", R"({"type":"number","minimum":0})", {R"(0)", R"(3.25)", R"(1e-3)"}, {R"(-1)", R"(-0.5)"}},
      {"formats",
       R"({"type":"object","properties":{"d":{"type":"string","format":"date"},"t":{"type":"string","format":"date-time"},"u":{"type":"string","format":"uuid"}},"required":["d","t","u"]})",
       {R"({"d":"2024-02-29","t":"2024-02-29T13:45:00Z","u":"123e4567-e89b-12d3-a456-426614174000"})",
        R"({"d":"1999-12-31","t":"1999-12-31T23:59:59.123+05:30","u":"00000000-0000-0000-0000-000000000000"})"},
       {R"({"d":"2024-13-01","t":"2024-02-29T13:45:00Z","u":"123e4567-e89b-12d3-a456-426614174000"})",
        R"({"d":"2024-02-29","t":"2024-02-29 13:45:00Z","u":"123e4567-e89b-12d3-a456-426614174000"})",
        R"({"d":"2024-02-29","t":"2024-02-29T13:45:00Z","u":"123e4567e89b12d3a456426614174000"})"}},
      {"pattern", R"({"type":"string","pattern":"^[A-Z]{2}-\\d{3,4}$"})", {R"("AB-123")", R"("ZZ-0000")"},
       {R"("ab-123")", R"("AB-12")", R"("AB-12345")"}},
      {"pydantic model with $defs, refs, optional and enums", R"({
        "$defs": {
          "Color": {"enum": ["red", "green"], "title": "Color", "type": "string"},
          "Pet": {"properties": {"name": {"title": "Name", "type": "string"},
                                 "color": {"$ref": "#/$defs/Color"}},
                  "required": ["name", "color"], "title": "Pet", "type": "object"}
        },
        "properties": {
          "owner": {"title": "Owner", "type": "string"},
          "pets": {"items": {"$ref": "#/$defs/Pet"}, "title": "Pets", "type": "array"},
          "best": {"anyOf": [{"$ref": "#/$defs/Pet"}, {"type": "null"}], "default": null}
        },
        "required": ["owner", "pets"], "title": "Owner", "type": "object"})",
       {R"({"owner":"Kim","pets":[]})", R"({"owner":"Kim","pets":[{"name":"Rex","color":"red"}],"best":null})",
        R"({"owner":"Kim","pets":[{"name":"Rex","color":"red"},{"name":"Tom","color":"green"}],"best":{"name":"Tom","color":"green"}})"},
       {R"({"owner":"Kim","pets":[{"name":"Rex","color":"blue"}]})", R"({"owner":"Kim","pets":[{"name":"Rex"}]})"}},
      {"recursive schema (definitions)", R"({
        "definitions": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
                        "kids": {"type": "array", "items": {"$ref": "#/definitions/node"}}}, "required": ["v"]}},
        "$ref": "#/definitions/node"})",
       {R"({"v":1})", R"({"v":1,"kids":[{"v":2,"kids":[{"v":3}]},{"v":4}]})"}, {R"({"v":1,"kids":[{"kids":[]}]})"}},
      {"allOf of one ref (older Pydantic)", R"({"$defs":{"A":{"type":"object","properties":{"x":{"type":"boolean"}},"required":["x"]}},
        "type":"object","properties":{"a":{"allOf":[{"$ref":"#/$defs/A"}],"description":"d"}},"required":["a"]})",
       {R"({"a":{"x":true}})"}, {R"({"a":{}})"}},
      {"oneOf disjoint", R"({"oneOf":[{"type":"integer"},{"type":"array","items":{"type":"integer"}}]})",
       {R"(3)", R"([1,2])"}, {R"("3")"}},
      {"empty schema is any value", R"({})", {R"(1)", R"("s")", R"([{"a":null}])", R"(true)"}, {}},
  };
  return c;
}

TEST(JsonSchema, CasesAcceptAndReject) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.name);
    const json schema = json::parse(c.schema);
    std::string gbnf = json_schema_to_gbnf(schema);
    std::shared_ptr<const Grammar> g;
    ASSERT_NO_THROW(g = Grammar::parse(gbnf)) << gbnf;
    for (const char* doc : c.accept) {
      const json d = json::parse(doc);
      ASSERT_EQ(json_schema_validate(schema, d), "") << "test document is invalid: " << doc;
      EXPECT_TRUE(grammar_accepts(g, d.dump())) << "compact: " << d.dump() << "\n" << gbnf;
      // enum/const values are matched as written by the schema (compact)
      if (std::string(c.name) != "enum and const")
        EXPECT_TRUE(grammar_accepts(g, d.dump(2))) << "pretty: " << d.dump(2) << "\n" << gbnf;
    }
    for (const char* doc : c.reject) {
      const json d = json::parse(doc);
      EXPECT_FALSE(grammar_accepts(g, d.dump())) << "accepted " << d.dump() << "\n" << gbnf;
      // Documents rejected only because of our stricter defaults
      // (additionalProperties, property order) may be valid; everything else
      // must be invalid for the validator too.
      if (std::string(c.name).find("required and optional") == std::string::npos &&
          std::string(c.name).find("all optional") == std::string::npos)
        EXPECT_NE(json_schema_validate(schema, d), "") << doc;
    }
  }
}

TEST(JsonSchema, WhitespaceIsBounded) {
  auto g = json_schema_grammar(json::parse(R"({"type":"array","items":{"type":"integer"}})"));
  EXPECT_TRUE(grammar_accepts(g, "[\n  1,\n  2\n]"));
  EXPECT_TRUE(grammar_accepts(g, "[1, 2]"));
  EXPECT_FALSE(grammar_accepts(g, "[1,  2]"));           // two spaces
  EXPECT_FALSE(grammar_accepts(g, "[\n\n1]"));           // two newlines
  EXPECT_FALSE(grammar_accepts(g, "[\n" + std::string(21, ' ') + "1]"));  // indent over 20
  EXPECT_TRUE(grammar_accepts(g, "[\n" + std::string(20, ' ') + "1]"));
}

TEST(JsonSchema, JsonModeIsAnObject) {
  auto g = Grammar::parse(json_object_gbnf());
  EXPECT_TRUE(grammar_accepts(g, R"({"a": [1, "b", null, true, {"c": -1.5e-3}]})"));
  EXPECT_FALSE(grammar_accepts(g, R"([1])"));
  EXPECT_FALSE(grammar_accepts(g, R"("s")"));
  EXPECT_FALSE(grammar_accepts(g, R"({"a": 01})"));
  EXPECT_FALSE(grammar_accepts(g, R"({"a": "\x"})"));
  auto any = Grammar::parse(json_value_gbnf());
  EXPECT_TRUE(grammar_accepts(any, R"([1])"));
  EXPECT_TRUE(grammar_accepts(any, R"("s")"));
}

TEST(JsonSchema, UnsupportedKeywordsAreNamedErrors) {
  auto error = [](const char* schema) {
    try {
      json_schema_to_gbnf(json::parse(schema));
    } catch (const kiln::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error(R"({"type":"object","properties":{"a":{"not":{"type":"string"}}}})"),
            "JSON schema at /properties/a: keyword 'not' is not supported");
  EXPECT_EQ(error(R"({"type":"array","uniqueItems":true})"), "JSON schema at /: keyword 'uniqueItems' is not supported");
  EXPECT_EQ(error(R"({"$ref":"#/$defs/Missing"})"), "JSON schema at /$ref: $ref '#/$defs/Missing' does not resolve");
  EXPECT_EQ(error(R"({"$ref":"http://example.com/s.json"})"),
            "JSON schema at /$ref: only local $ref (#/...) is supported, got 'http://example.com/s.json'");
  EXPECT_EQ(error(R"({"type":"strin"})"), "JSON schema at /: unknown type 'strin'");
  EXPECT_EQ(error(R"({"type":"string","pattern":"^(a)\\1$"})"),
            "JSON schema at /: pattern '^(a)\\1$' at offset 6: backreferences are not supported");
  EXPECT_EQ(error(R"j({"type":"string","pattern":"(?=x)"})j"),
            "JSON schema at /: pattern '(?=x)' at offset 1: lookaround and named groups are not supported");
  EXPECT_EQ(error(R"({"type":"object","properties":{},"required":["a"]})"),
            "JSON schema at /: required property 'a' is not in properties");
  EXPECT_EQ(error(R"({"type":"integer","minimum":5,"maximum":4})"), "JSON schema at /: integer bounds leave no value");
  EXPECT_EQ(error("false"), "JSON schema at /: schema false matches nothing");
  // Found by fuzz_json: a quantified quantifier (a SyntaxError in ECMAScript)
  // used to become a left-recursive grammar that failed later with a rule name.
  for (const char* schema : {R"({"type":"string","pattern":"a*+"})", R"({"type":"string","pattern":"[^x]?{2}"})"})
    EXPECT_NE(error(schema).find("quantifier has nothing to repeat"), std::string::npos) << schema;
}

// Every integer in a window, against the bounds by arithmetic.
TEST(JsonSchema, IntegerRangesMatchArithmetic) {
  const long long bounds[][2] = {{0, 0}, {1, 9}, {-9, 9}, {7, 1234}, {-1234, -7}, {-100, 100}, {10, 99},
                                 {99, 1000}, {-1, 0}, {101, 10009}, {-5000, 42}, {3, 3}};
  for (auto [lo, hi] : bounds) {
    for (int open = 0; open < 3; ++open) {  // 0: both bounds, 1: no upper, 2: no lower
      const long long* plo = open == 2 ? nullptr : &lo;
      const long long* phi = open == 1 ? nullptr : &hi;
      const std::string expr = json_integer_range_gbnf(plo, phi);
      auto g = Grammar::parse("root ::= " + expr);
      for (long long v = -12000; v <= 12000; v += (v > -200 && v < 200) ? 1 : 7) {
        const bool in = (!plo || v >= lo) && (!phi || v <= hi);
        ASSERT_EQ(grammar_accepts(g, std::to_string(v)), in) << expr << " on " << v;
      }
      EXPECT_FALSE(grammar_accepts(g, "-0"));
      EXPECT_FALSE(grammar_accepts(g, "01"));
    }
  }
}

// Random strings over a small alphabet: the grammar (over the JSON-encoded
// string) agrees with std::regex_search on the decoded value.
TEST(JsonSchema, PatternsMatchStdRegex) {
  const char* patterns[] = {"^[a-c]+$", "^a(b|cd)*e?$", "^\\d{1,2}-?x?$", "b.c", "^[^a\"]*\"?$", "^(ab|a)+$", "c$",
                            "^\\w\\s\\W?$", "^[\\\\a]{1,2}$", "^(?:a|\\.)*b+?$"};
  const std::string alphabet = "abcde.\\\"- 1x";
  std::mt19937 rng(99);
  for (const char* p : patterns) {
    json schema = {{"type", "string"}, {"pattern", p}};
    auto g = json_schema_grammar(schema);
    std::regex re(p, std::regex::ECMAScript);
    int hits = 0;
    for (int trial = 0; trial < 3000; ++trial) {
      std::string s;
      const int len = static_cast<int>(rng() % 7);
      for (int i = 0; i < len; ++i) s += alphabet[rng() % alphabet.size()];
      const bool expected = std::regex_search(s, re);
      ASSERT_EQ(grammar_accepts(g, json(s).dump()), expected) << p << " on " << json(s).dump();
      hits += expected;
    }
    EXPECT_GT(hits, 5) << p;
  }
}

}  // namespace
}  // namespace kiln::engine

namespace kiln::engine {
namespace {

// Found by fuzz_json: the pattern reader accepted lead bytes F5-F7, giving
// code points past U+10FFFF that the GBNF parser then refused. A pattern
// (reachable raw through json_pattern_to_gbnf) must be well-formed UTF-8.
TEST(JsonSchema, PatternRejectsMalformedUtf8) {
  for (const char* bad : {"\xF7\xBF\xBF\xBF", "\xF4\x90\x80\x80", "\xC0\x80", "\xED\xA0\x80", "a\xC3("}) {
    try {
      json_pattern_to_gbnf(bad);
      ADD_FAILURE() << "accepted a malformed pattern";
    } catch (const kiln::Error& e) {
      EXPECT_NE(std::string(e.what()).find("invalid UTF-8"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(json_pattern_to_gbnf("caf\xC3\xA9[\xF0\x9F\x98\x80-\xF4\x8F\xBF\xBF]"));
}

}  // namespace
}  // namespace kiln::engine
