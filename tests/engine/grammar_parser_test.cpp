// GBNF parser: valid grammars build, invalid ones fail with a message that
// names the line and column (or the rule) of the problem.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "core/error.h"
#include "engine/grammar.h"
#include "engine/grammar_matcher.h"

namespace kiln::engine {
namespace {

bool matches(const std::shared_ptr<const Grammar>& g, std::string_view text) {
  GrammarMatcher m(g);
  return m.accept(text) && m.is_complete();
}

std::string parse_error(std::string_view gbnf) {
  try {
    Grammar::parse(gbnf);
  } catch (const kiln::Error& e) {
    return e.what();
  }
  return "";
}

TEST(GrammarParser, LlamaCppJsonGrammarParses) {
  // llama.cpp's grammars/json.gbnf, written out in its own syntax.
  const char* gbnf = R"(
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= | " " | "\n" [ \t]{0,20}
)";
  auto g = Grammar::parse(gbnf);
  EXPECT_TRUE(matches(g, R"({"a": [1, 2.5, -3e+4], "b": {"c": "d\n\u00e9"}, "t": true})"));
  EXPECT_TRUE(matches(g, "{}"));
  EXPECT_FALSE(matches(g, "[]"));  // root is an object
  EXPECT_FALSE(matches(g, R"({"a" 1})"));
}

TEST(GrammarParser, RepetitionForms) {
  auto g = Grammar::parse(R"(root ::= "a"{2} "b"{1,3} "c"{2,} "d"{,2} "e"* "f"+ "g"?)");
  EXPECT_TRUE(matches(g, "aabccf"));
  EXPECT_TRUE(matches(g, "aabbbcccccddeeeffg"));
  EXPECT_FALSE(matches(g, "abccf"));     // a{2}
  EXPECT_FALSE(matches(g, "aabbbbccf"));  // b{1,3}
  EXPECT_FALSE(matches(g, "aabcf"));     // c{2,}
  EXPECT_FALSE(matches(g, "aabccdddf"));  // d{,2}
  EXPECT_FALSE(matches(g, "aabcc"));     // f+
}

TEST(GrammarParser, StackedQuantifiersFoldIntoOne) {
  // x++ is x+, x+* / x*+ / x?+ / x+? are x*, x?? is x?: same language, and
  // the matcher stays linear (13 nested '+' used to take the matcher > 40 s).
  EXPECT_TRUE(matches(Grammar::parse(R"(root ::= "a"++)"), "aaa"));
  EXPECT_FALSE(matches(Grammar::parse(R"(root ::= "a"++)"), ""));
  EXPECT_TRUE(matches(Grammar::parse(R"(root ::= "a"+* "b")"), "b"));
  EXPECT_TRUE(matches(Grammar::parse(R"(root ::= "a"?+ "b")"), "aaab"));
  EXPECT_TRUE(matches(Grammar::parse(R"(root ::= "a"?? "b")"), "ab"));
  EXPECT_FALSE(matches(Grammar::parse(R"(root ::= "a"?? "b")"), "aab"));
  EXPECT_TRUE(matches(Grammar::parse(R"(root ::= "a"+ + "b")"), "aab"));  // spaces between are the same
  // A counted repetition after a simple one keeps its meaning: (a+){2} needs two a's.
  EXPECT_FALSE(matches(Grammar::parse(R"(root ::= "a"+{2})"), "a"));
  EXPECT_TRUE(matches(Grammar::parse(R"(root ::= "a"+{2})"), "aaa"));

  auto g = Grammar::parse("root ::= [a-z] +++++++++++++");
  GrammarMatcher m(g);
  EXPECT_TRUE(m.accept(std::string(4000, 'q')));  // linear: instant
  EXPECT_TRUE(m.is_complete());
}

TEST(GrammarParser, AmbiguousGrammarsFailInsteadOfStalling) {
  // Nested groups are not folded; the matcher caps its work per byte and
  // says why, so a hostile grammar costs a bounded amount of time.
  std::string nested = "\"a\"";
  for (int i = 0; i < 14; ++i) nested = "(" + nested + "+ | \"a\")+";
  auto g = Grammar::parse("root ::= " + nested);
  GrammarMatcher m(g);
  const auto start = std::chrono::steady_clock::now();
  std::string error;
  try {
    for (int i = 0; i < 64; ++i) ASSERT_TRUE(m.accept_byte('a'));
  } catch (const kiln::Error& e) {
    error = e.what();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 5.0);
  if (!error.empty()) {
    EXPECT_NE(error.find("too ambiguous"), std::string::npos) << error;
  }
}

TEST(GrammarParser, GroupsLiteralsAndComments) {
  auto g = Grammar::parse(
      "# leading comment\n"
      "root ::= greeting (\", \" name)+ # trailing comment\n"
      "greeting ::= \"hi\" | \"hello\"\n"
      "name ::= [A-Z] [a-z]*\n");
  EXPECT_TRUE(matches(g, "hi, Ann"));
  EXPECT_TRUE(matches(g, "hello, Ann, Bo"));
  EXPECT_FALSE(matches(g, "hello"));
  EXPECT_FALSE(matches(g, "hey, Ann"));
}

TEST(GrammarParser, ContinuationLinesAndRulesInAnyOrder) {
  auto g = Grammar::parse(
      "root ::= a\n"
      "  | b\n"
      "b ::= (\n"
      "  \"x\"\n"
      "  \"y\"\n"
      ")\n"
      "a ::= \"z\"\n");
  EXPECT_TRUE(matches(g, "z"));
  EXPECT_TRUE(matches(g, "xy"));
  EXPECT_FALSE(matches(g, "x"));
}

TEST(GrammarParser, EscapesAndUnicode) {
  auto g = Grammar::parse(R"(root ::= "\x41\u00e9\U0001F600\t" [\u4e00-\u9fff]+ [^\n]*)");
  EXPECT_TRUE(matches(g, "A\xC3\xA9\xF0\x9F\x98\x80\t\xE4\xB8\xAD\xE6\x96\x87 rest"));
  EXPECT_FALSE(matches(g, "A\xC3\xA9\xF0\x9F\x98\x80\tabc"));
  EXPECT_FALSE(matches(g, "A\xC3\xA9\xF0\x9F\x98\x80\t\xE4\xB8\xAD\n"));
}

TEST(GrammarParser, AnyCharMatchesOneCodepoint) {
  auto g = Grammar::parse("root ::= . . \"!\"");
  EXPECT_TRUE(matches(g, "ab!"));
  EXPECT_TRUE(matches(g, "\xC3\xA9\xF0\x9F\x98\x80!"));
  EXPECT_FALSE(matches(g, "abc!"));
  EXPECT_FALSE(matches(g, "\xC3!"));        // truncated character
  EXPECT_FALSE(matches(g, "\xED\xA0\x80!"));  // a UTF-16 surrogate
}

TEST(GrammarParser, ErrorsNameLineAndColumn) {
  EXPECT_EQ(parse_error("root ::= foo\n"), "grammar line 1, column 10: rule 'foo' is used but never defined");
  EXPECT_EQ(parse_error("root ::= \"a\"\nx = \"b\"\n"), "grammar line 2, column 3: expected '::=' after rule name 'x'");
  EXPECT_EQ(parse_error("root ::= \"abc\n"), "grammar line 1, column 10: unterminated string literal");
  EXPECT_EQ(parse_error("root ::= [abc\n"), "grammar line 1, column 10: unterminated character class");
  EXPECT_EQ(parse_error("root ::= \"a\" )\n"), "grammar line 1, column 14: unexpected ')'");
  EXPECT_EQ(parse_error("root ::= ( \"a\" \n"), "grammar line 2, column 1: expected ')'");
  EXPECT_EQ(parse_error("root ::= \"a\"\nroot ::= \"b\"\n"), "grammar line 2, column 1: rule 'root' is defined twice");
  EXPECT_EQ(parse_error("root ::= * \"a\"\n"), "grammar line 1, column 10: '*' has nothing to repeat");
  EXPECT_EQ(parse_error("root ::= \"a\"{3,1}\n"), "grammar line 1, column 13: repetition maximum is below its minimum");
  EXPECT_EQ(parse_error("root ::= \"\\q\"\n"), "grammar line 1, column 11: unknown escape '\\q'");
  EXPECT_EQ(parse_error("root ::= [z-a]\n"), "grammar line 1, column 10: character range is reversed");
  EXPECT_EQ(parse_error("root ::= <think>\n"), "grammar line 1, column 10: token references (<...>) are not supported");
  EXPECT_EQ(parse_error("root ::= \"a\" $\n"), "grammar line 1, column 14: unexpected '$'");
}

TEST(GrammarParser, StructuralErrors) {
  EXPECT_EQ(parse_error("start ::= \"a\"\n"), "grammar has no rule 'root'");
  EXPECT_EQ(parse_error(""), "grammar has no rule 'root'");
  EXPECT_EQ(parse_error("root ::= root \"a\" | \"b\"\n"), "grammar is left-recursive: root -> root");
  EXPECT_EQ(parse_error("root ::= x\nx ::= y? x \"a\" | \"b\"\ny ::= \"c\"\n"),
            "grammar is left-recursive: x -> x");
  EXPECT_EQ(parse_error("root ::= a\na ::= \"x\" a\n"),
            "grammar rule 'root' can never match (every alternative recurses forever)");
  EXPECT_NE(parse_error("root ::= [^\\x00-\\U0010FFFF]\n").find("matches no character"), std::string::npos);
}

TEST(GrammarParser, OtherRootName) {
  auto g = Grammar::parse("top ::= \"ok\"\n", "top");
  EXPECT_TRUE(matches(g, "ok"));
}

}  // namespace
}  // namespace kiln::engine
