// GrammarMatcher: accept/reject, completeness, checkpoints, copies,
// compaction; and agreement with std::regex on random strings for grammars
// that are regular.
#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <string>

#include "core/error.h"
#include "engine/grammar.h"
#include "engine/grammar_matcher.h"

namespace kiln::engine {
namespace {

TEST(GrammarMatcher, PrefixesCompletionAndRejection) {
  auto g = Grammar::parse("root ::= \"ab\" \"c\"* \"d\"?");
  GrammarMatcher m(g);
  EXPECT_FALSE(m.is_complete());
  EXPECT_TRUE(m.can_continue());
  EXPECT_FALSE(m.accept_byte('b'));
  EXPECT_TRUE(m.accept_byte('a'));
  EXPECT_FALSE(m.is_complete());
  EXPECT_TRUE(m.accept_byte('b'));
  EXPECT_TRUE(m.is_complete());
  EXPECT_TRUE(m.accept("ccc"));
  EXPECT_TRUE(m.is_complete());
  EXPECT_FALSE(m.accept("cx"));  // all or nothing: the 'c' is not kept
  EXPECT_TRUE(m.accept_byte('d'));
  EXPECT_TRUE(m.is_complete());
  EXPECT_FALSE(m.can_continue());
  EXPECT_FALSE(m.accept_byte('c'));
}

TEST(GrammarMatcher, NextBytes) {
  auto g = Grammar::parse("root ::= [a-c] | \"x\" [0-9]");
  GrammarMatcher m(g);
  ByteSet s = m.next_bytes();
  for (int b = 0; b < 256; ++b) EXPECT_EQ(s.has(static_cast<uint8_t>(b)), (b >= 'a' && b <= 'c') || b == 'x') << b;
}

TEST(GrammarMatcher, CheckpointRewindAndCopy) {
  auto g = Grammar::parse("root ::= (\"ab\" | \"ac\")+");
  GrammarMatcher m(g);
  ASSERT_TRUE(m.accept("ab"));
  auto cp = m.checkpoint();
  GrammarMatcher copy = m;
  ASSERT_TRUE(m.accept("ac"));
  EXPECT_TRUE(m.is_complete());
  m.rewind(cp);
  EXPECT_TRUE(m.is_complete());
  EXPECT_TRUE(m.accept("acab"));
  // The copy is independent of what happened to the original.
  EXPECT_FALSE(copy.accept("b"));
  EXPECT_TRUE(copy.accept("a"));
  EXPECT_FALSE(copy.is_complete());
  EXPECT_TRUE(copy.can_accept("c"));
  EXPECT_FALSE(copy.can_accept("d"));
  EXPECT_FALSE(copy.is_complete());
  m.reset();
  EXPECT_THROW(m.rewind(cp), kiln::Error);  // stale after reset
}

TEST(GrammarMatcher, LongInputStaysSmall) {
  // Every byte leaves old stacks behind; compaction keeps memory bounded.
  auto g = Grammar::parse("root ::= \"[\" item (\",\" item)* \"]\"\nitem ::= [a-z]+ | \"(\" item \")\"");
  GrammarMatcher m(g);
  ASSERT_TRUE(m.accept("["));
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE(m.accept("abc,((x)),"));
  ASSERT_TRUE(m.accept("z]"));
  EXPECT_TRUE(m.is_complete());
  EXPECT_LT(m.node_count(), 20000u);
}

TEST(GrammarMatcher, DeepNestingNeedsStacks) {
  auto g = Grammar::parse("root ::= \"(\" root \")\" | \"x\"");
  GrammarMatcher m(g);
  std::string s = std::string(500, '(') + "x" + std::string(500, ')');
  ASSERT_TRUE(m.accept(s));
  EXPECT_TRUE(m.is_complete());
  GrammarMatcher m2(g);
  EXPECT_FALSE(m2.accept(std::string(500, '(') + "x" + std::string(499, ')') + "))"));
}

TEST(GrammarMatcher, AmbiguousGrammarDoesNotBlowUp) {
  // (a|aa|aaa)* over a long run of a's: exponentially many parses, but the
  // stack set stays small because equal stacks are merged.
  auto g = Grammar::parse("root ::= (\"a\" | \"aa\" | \"aaa\")* \"b\"");
  GrammarMatcher m(g);
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(m.accept_byte('a'));
  EXPECT_LT(m.stack_count(), 16u);
  EXPECT_TRUE(m.accept_byte('b'));
  EXPECT_TRUE(m.is_complete());
}

// The grammar language must equal the regex language: a string is a full
// match of the regex exactly when every byte is accepted and the matcher
// ends complete.
struct RegularCase {
  const char* gbnf;
  const char* regex;
  const char* alphabet;
};

TEST(GrammarMatcher, AgreesWithStdRegex) {
  const RegularCase cases[] = {
      {"root ::= (\"ab\" | \"a\")* \"c\"?", "(ab|a)*c?", "abc"},
      {"root ::= [a-c]{2,4} \"-\"? [0-9]+", "[a-c]{2,4}-?[0-9]+", "abcd-019"},
      {"root ::= (\"x\" [yz]?)+ | \"w\"{3}", "(x[yz]?)+|w{3}", "xyzw"},
      {"root ::= ([^b] \"b\")* \"a\"{0,2}", "([^b]b)*a{0,2}", "abc"},
      {"root ::= a b\na ::= \"p\"* | \"q\"\nb ::= \"q\"? \"p\"", "(p*|q)q?p", "pq"},
  };
  std::mt19937 rng(1234);
  for (const auto& c : cases) {
    auto g = Grammar::parse(c.gbnf);
    std::regex re(c.regex);
    const std::string alpha = c.alphabet;
    int matched = 0;
    for (int trial = 0; trial < 3000; ++trial) {
      std::string s;
      const int len = static_cast<int>(rng() % 9);
      for (int i = 0; i < len; ++i) s += alpha[rng() % alpha.size()];
      GrammarMatcher m(g);
      bool ok = true;
      for (char ch : s) ok = ok && m.accept_byte(static_cast<uint8_t>(ch));
      const bool grammar_match = ok && m.is_complete();
      const bool regex_match = std::regex_match(s, re);
      ASSERT_EQ(grammar_match, regex_match) << c.gbnf << " on '" << s << "'";
      matched += regex_match;
    }
    EXPECT_GT(matched, 20) << c.gbnf;  // the test exercised both outcomes
  }
}

// A rejected byte means no sentence has the prefix: check by exhaustive
// search over short continuations on a small alphabet.
TEST(GrammarMatcher, RejectionMeansNoCompletion) {
  auto g = Grammar::parse("root ::= \"a\" (\"bc\" | \"bd\")* \"e\"");
  std::regex re("a(bc|bd)*e");
  const std::string alpha = "abcde";
  std::mt19937 rng(7);
  for (int trial = 0; trial < 500; ++trial) {
    std::string s;
    GrammarMatcher m(g);
    for (int i = 0; i < 6; ++i) {
      char ch = alpha[rng() % alpha.size()];
      const bool accepted = m.accept_byte(static_cast<uint8_t>(ch));
      // Is there any completion of s+ch of length <= 6 matching the regex?
      bool completable = false;
      std::string base = s + ch;
      for (int extra = 0; extra <= 6 && !completable; ++extra) {
        int total = 1;
        for (int k = 0; k < extra; ++k) total *= 5;
        for (int code = 0; code < total && !completable; ++code) {
          std::string t = base;
          for (int k = 0, c = code; k < extra; ++k, c /= 5) t += alpha[c % 5];
          completable = std::regex_match(t, re);
        }
      }
      ASSERT_EQ(accepted, completable) << "'" << base << "'";
      if (!accepted) break;
      s = base;
    }
  }
}

}  // namespace
}  // namespace kiln::engine
