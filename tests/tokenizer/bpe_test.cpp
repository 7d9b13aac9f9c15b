// Byte-level BPE on hand-built vocabularies: merge ranks, the byte alphabet,
// ignore_merges, added tokens, and spec validation errors.
#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/pretokenize.h"
#include "vocab_builders.h"

namespace kiln::tok {
namespace {

using testing::BpeBuilder;
using Ids = std::vector<int32_t>;

TEST(Bpe, EveryByteHasATokenAndRoundTrips) {
  BpeBuilder b;
  const Tokenizer t = b.build();
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  const Ids ids = t.encode(all, false, false);
  std::string bytes;
  for (int32_t id : ids) bytes += t.piece(id);
  EXPECT_EQ(bytes, all);
  EXPECT_EQ(t.piece(' '), " ");
  EXPECT_EQ(t.token_text(' '), "\xC4\xA0");  // "Ġ"
}

TEST(Bpe, LowerRankMergesFirst) {
  BpeBuilder b;
  const int32_t bc = b.merge("b", "c");
  const int32_t ab = b.merge("a", "b");
  const Tokenizer t = b.build();
  EXPECT_EQ(t.encode("abc", false, false), (Ids{'a', bc}));
  BpeBuilder b2;
  const int32_t ab2 = b2.merge("a", "b");
  b2.merge("b", "c");
  EXPECT_EQ(b2.build().encode("abc", false, false), (Ids{ab2, 'c'}));
  (void)ab;
}

TEST(Bpe, MergesChainAndStayInsidePreTokenizerPieces) {
  BpeBuilder b;
  b.merge(" ", "a");
  const int32_t sab = b.merge(" a", "b");
  const Tokenizer t = b.build();
  EXPECT_EQ(t.encode("ab ab", false, false), (Ids{'a', 'b', sab}));
  EXPECT_EQ(t.encode(" ab", false, false), (Ids{sab}));
}

TEST(Bpe, IgnoreMergesKeepsWholeTokens) {
  BpeBuilder llama3("llama3");
  const int32_t whole = llama3.add("xyz");  // no merge produces it
  EXPECT_EQ(llama3.build().encode("xyz", false, false), (Ids{whole}));
  BpeBuilder gpt2("gpt2");
  gpt2.add("xyz");
  EXPECT_EQ(gpt2.build().encode("xyz", false, false), (Ids{'x', 'y', 'z'}));
}

TEST(Bpe, AddedTokensAreRawTextAndNeverMerged) {
  BpeBuilder b;
  const int32_t ctl = b.add("<|end|>", TokenType::Control);
  const int32_t user = b.add("<tool>", TokenType::UserDefined);
  const Tokenizer t = b.build();
  EXPECT_EQ(t.encode("a<|end|>", false, true), (Ids{'a', ctl}));
  const Ids off = t.encode("a<|end|>", false, false);
  EXPECT_EQ(std::count(off.begin(), off.end(), ctl), 0);
  EXPECT_EQ(t.decode(off), "a<|end|>");
  EXPECT_EQ(t.encode("<tool>", false, false), (Ids{user}));
  EXPECT_EQ(t.piece(ctl), "<|end|>");
  EXPECT_TRUE(t.is_eog(ctl));  // a well-known end marker
}

TEST(Bpe, Llama3PreTokenizerDefaultsToBos) {
  EXPECT_TRUE(pre_tokenizer_info("llama-bpe").default_add_bos);
  EXPECT_FALSE(pre_tokenizer_info("qwen2").default_add_bos);
}

TEST(Bpe, BadSpecsAreRejectedWithAMessage) {
  auto message = [](const VocabSpec& s) {
    try {
      Tokenizer::from_spec(s);
    } catch (const kiln::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  BpeBuilder b;
  b.spec.merges.push_back("a q");  // "aq" is not a token
  EXPECT_NE(message(b.spec).find("merge 0"), std::string::npos);
  BpeBuilder c;
  c.spec.merges.push_back("nospace");
  EXPECT_NE(message(c.spec).find("no space"), std::string::npos);
  BpeBuilder d("klingon");
  EXPECT_NE(message(d.spec).find("klingon"), std::string::npos);
  BpeBuilder e;
  e.spec.bos = 100000;
  EXPECT_NE(message(e.spec).find("bos"), std::string::npos);
  BpeBuilder f;
  f.spec.types.pop_back();
  EXPECT_NE(message(f.spec).find("token types"), std::string::npos);
  VocabSpec missing_byte;
  missing_byte.algorithm = Algorithm::ByteLevelBpe;
  missing_byte.tokens = {"a"};
  EXPECT_NE(message(missing_byte).find("no token for byte"), std::string::npos);
  EXPECT_NE(message(VocabSpec{}).find("empty"), std::string::npos);
}

TEST(Bpe, OutOfRangeIdsThrowInsteadOfCrashing) {
  const Tokenizer t = BpeBuilder().build();
  EXPECT_THROW(t.piece(-1), kiln::Error);
  EXPECT_THROW(t.piece(256), kiln::Error);
  const Ids bad{1, 999};
  EXPECT_THROW(t.decode(bad), kiln::Error);
  EXPECT_FALSE(t.is_eog(-5));
}

}  // namespace
}  // namespace kiln::tok
