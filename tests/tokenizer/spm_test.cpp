// SentencePiece-style encoding on hand-built vocabularies: merge order, byte
// fallback, the space marker, added tokens. Expected ids follow from the
// algorithm's definition (SentencePiece's bpe_model.cc) on vocabularies built
// so that exactly one answer is right.
#include <gtest/gtest.h>

#include "core/error.h"
#include "vocab_builders.h"

namespace kiln::tok {
namespace {

using testing::SpmBuilder;
using Ids = std::vector<int32_t>;

TEST(Spm, HighestScorePairMergesFirst) {
  SpmBuilder b;
  const int32_t a = b.add("a", -10), bb = b.add("b", -10), c = b.add("c", -10);
  const int32_t ab = b.add("ab", -2), bc = b.add("bc", -1);
  EXPECT_EQ(b.build().encode("abc", false, false), (Ids{a, bc}));
  b.spec.scores[ab] = -0.5f;
  EXPECT_EQ(b.build().encode("abc", false, false), (Ids{ab, c}));
  (void)bb;
}

TEST(Spm, EqualScoresMergeLeftmostFirst) {
  SpmBuilder b;
  const int32_t a = b.add("a", -10);
  const int32_t aa = b.add("aa", -1);
  EXPECT_EQ(b.build().encode("aaa", false, false), (Ids{aa, a}));
  EXPECT_EQ(b.build().encode("aaaa", false, false), (Ids{aa, aa}));
}

TEST(Spm, SpacesBecomeTheMarker) {
  SpmBuilder b;
  const int32_t a = b.add("a", -10), sp = b.add("\xE2\x96\x81", -10), spa = b.add("\xE2\x96\x81" "a", -1);
  const Tokenizer t = b.build();
  EXPECT_EQ(t.encode("a a", false, false), (Ids{a, spa}));
  EXPECT_EQ(t.encode("a  ", false, false), (Ids{a, sp, sp}));  // runs are not collapsed
  EXPECT_EQ(t.decode(t.encode("a a  ", false, false)), "a a  ");
}

TEST(Spm, SpacePrefixOnlyAtTheStartAndStrippedOnDecode) {
  SpmBuilder b;
  b.add("a", -10);
  const int32_t spa = b.add("\xE2\x96\x81" "a", -1);
  const int32_t ctl = b.add("<|c|>", 0, TokenType::Control);
  b.spec.add_space_prefix = true;
  const Tokenizer t = b.build();
  EXPECT_EQ(t.encode("a", false, false), (Ids{spa}));
  const Ids ids = t.encode("a<|c|>a", false, true);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], spa);
  EXPECT_EQ(ids[1], ctl);
  EXPECT_NE(ids[2], spa);  // after an added token: no prefix
  EXPECT_EQ(t.decode(t.encode("a a", false, false)), "a a");
}

TEST(Spm, ByteFallbackForUnknownCharacters) {
  SpmBuilder b;
  b.add("a", -1);
  const Tokenizer t = b.build();
  EXPECT_EQ(t.encode("\xC3\xA9", false, false), (Ids{SpmBuilder::byte_id(0xC3), SpmBuilder::byte_id(0xA9)}));
  EXPECT_EQ(t.decode(t.encode("a\xC3\xA9\xF0\x9F\x98\x80", false, false)), "a\xC3\xA9\xF0\x9F\x98\x80");
  // Invalid UTF-8 input is encoded byte by byte; decoding shows U+FFFD.
  EXPECT_EQ(t.encode("\xFF", false, false), (Ids{SpmBuilder::byte_id(0xFF)}));
  EXPECT_EQ(t.decode(t.encode("a\xFF", false, false)), "a\xEF\xBF\xBD");
}

TEST(Spm, UnknownTokenWithoutByteTokens) {
  VocabSpec s;
  s.tokens = {"<unk>", "a"};
  s.types = {TokenType::Unknown, TokenType::Normal};
  s.unk = 0;
  const Tokenizer t = Tokenizer::from_spec(s);
  EXPECT_EQ(t.encode("ab", false, false), (Ids{1, 0}));
}

TEST(Spm, NoUnknownAndNoByteTokensIsRejected) {
  VocabSpec s;
  s.tokens = {"a"};
  EXPECT_THROW(Tokenizer::from_spec(s), kiln::Error);
}

TEST(Spm, ControlTokensOnlyWhenParsingSpecial) {
  SpmBuilder b;
  for (char c = 'a'; c <= 'z'; ++c) b.add(std::string(1, c), -10);
  b.add("<", -10), b.add(">", -10), b.add("|", -10);
  const int32_t ctl = b.add("<|c|>", 0, TokenType::Control);
  const Tokenizer t = b.build();
  const Ids on = t.encode("x<|c|>y", false, true);
  EXPECT_EQ(on.size(), 3u);
  EXPECT_EQ(on[1], ctl);
  const Ids off = t.encode("x<|c|>y", false, false);
  EXPECT_EQ(std::count(off.begin(), off.end(), ctl), 0);
  EXPECT_EQ(t.decode(off), "x<|c|>y");
}

TEST(Spm, ControlTokensAreNeverMergedInto) {
  SpmBuilder b;
  b.add("<", -1), b.add("x", -1), b.add(">", -1), b.add("<x", -0.5f);
  const int32_t ctl = b.add("<x>", 100, TokenType::Control);
  const Ids ids = b.build().encode("<x>", false, false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), ctl), 0);
  EXPECT_EQ(ids.size(), 2u);
}

TEST(Spm, UserDefinedTokensAlwaysMatchLeftmostLongest) {
  SpmBuilder b;
  for (char c = 'a'; c <= 'e'; ++c) b.add(std::string(1, c), -10);
  const int32_t ab = b.add("ab", 0, TokenType::UserDefined);
  const int32_t bcd = b.add("bcd", 0, TokenType::UserDefined);
  const int32_t abx = b.add("abcde", 0, TokenType::UserDefined);
  const Tokenizer t = b.build();
  const Ids ids = t.encode("xabcd", false, false);  // 'x' is bytes; "ab" starts first
  EXPECT_EQ(ids.back(), t.token_id("d"));
  EXPECT_EQ(ids[ids.size() - 3], ab);
  EXPECT_EQ(t.encode("abcde", false, false), (Ids{abx}));
  EXPECT_EQ(t.encode("bcd", false, false), (Ids{bcd}));
}

TEST(Spm, AddSpecialAddsBosAndEosAsConfigured) {
  SpmBuilder b;
  const int32_t a = b.add("a", -1);
  b.spec.add_bos = true;
  EXPECT_EQ(b.build().encode("a", true, false), (Ids{1, a}));
  EXPECT_EQ(b.build().encode("a", false, false), (Ids{a}));
  b.spec.add_eos = true;
  EXPECT_EQ(b.build().encode("a", true, false), (Ids{1, a, 2}));
  EXPECT_EQ(b.build().encode("", true, false), (Ids{1, 2}));
}

TEST(Spm, DecodeSkipsControlTokensOnRequest) {
  SpmBuilder b;
  const int32_t a = b.add("a", -1);
  const Tokenizer t = b.build();
  const Ids ids{1, a, 2};
  EXPECT_EQ(t.decode(ids), "<s>a</s>");
  EXPECT_EQ(t.decode(ids, true), "a");
}

}  // namespace
}  // namespace kiln::tok
