// Streaming decoding: partial UTF-8 is held back, invalid bytes become U+FFFD,
// and the stream's output always equals the whole-sequence decode.
#include <gtest/gtest.h>

#include <random>

#include "vocab_builders.h"

namespace kiln::tok {
namespace {

using testing::BpeBuilder;
using Ids = std::vector<int32_t>;

std::string stream_all(const Tokenizer& t, const Ids& ids, std::vector<std::string>* parts = nullptr) {
  StreamDecoder d(t);
  std::string out;
  for (int32_t id : ids) {
    std::string s = d.push(id);
    if (parts) parts->push_back(s);
    out += s;
  }
  std::string tail = d.flush();
  if (parts) parts->push_back(tail);
  return out + tail;
}

TEST(StreamDecoder, HoldsPartialSequences) {
  const Tokenizer t = BpeBuilder().build();
  // U+1F600 is F0 9F 98 80: one byte token each.
  std::vector<std::string> parts;
  const std::string out = stream_all(t, Ids{'a', 0xF0, 0x9F, 0x98, 0x80, 'b'}, &parts);
  EXPECT_EQ(parts, (std::vector<std::string>{"a", "", "", "", "\xF0\x9F\x98\x80", "b", ""}));
  EXPECT_EQ(out, "a\xF0\x9F\x98\x80" "b");
}

TEST(StreamDecoder, InvalidBytesBecomeReplacementCharacters) {
  const Tokenizer t = BpeBuilder().build();
  std::vector<std::string> parts;
  // A lone continuation byte is hopeless at once; a cut-off sequence only at flush.
  stream_all(t, Ids{0x80, 'x', 0xE2, 0x82}, &parts);
  EXPECT_EQ(parts, (std::vector<std::string>{"\xEF\xBF\xBD", "x", "", "", "\xEF\xBF\xBD"}));
  // A sequence broken by an ASCII byte: the incomplete prefix is one U+FFFD.
  EXPECT_EQ(stream_all(t, Ids{0xE2, 0x82, 'y'}), "\xEF\xBF\xBDy");
  EXPECT_EQ(t.decode(Ids{0xE2, 0x82, 'y'}), "\xEF\xBF\xBDy");
}

TEST(StreamDecoder, EqualsWholeDecodeOnRandomBytes) {
  const Tokenizer t = BpeBuilder().build();
  std::mt19937 rng(1234);
  // Bias toward bytes that start or continue multi-byte sequences.
  const int interesting[] = {0x41, 0x20, 0x80, 0x9F, 0xBF, 0xC2, 0xC3, 0xE0, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
  for (int round = 0; round < 2000; ++round) {
    Ids ids;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) ids.push_back(interesting[rng() % std::size(interesting)]);
    const std::string whole = t.decode(ids);
    ASSERT_EQ(stream_all(t, ids), whole) << "round " << round;
  }
}

TEST(StreamDecoder, FlushResetsForTheNextSequence) {
  testing::SpmBuilder b;
  const int32_t spa = b.add("\xE2\x96\x81" "a", -1);
  b.spec.add_space_prefix = true;
  const Tokenizer t = b.build();
  StreamDecoder d(t);
  EXPECT_EQ(d.push(spa), "a");  // the dummy prefix is removed once
  EXPECT_EQ(d.push(spa), " a");
  EXPECT_EQ(d.flush(), "");
  EXPECT_EQ(d.push(spa), "a");
}

TEST(StreamDecoder, SkipsControlTokensWhenAsked) {
  BpeBuilder b;
  const int32_t ctl = b.add("<|end|>", TokenType::Control);
  const Tokenizer t = b.build();
  StreamDecoder keep(t), skip(t, true);
  EXPECT_EQ(keep.push(ctl), "<|end|>");
  EXPECT_EQ(skip.push(ctl), "");
}

}  // namespace
}  // namespace kiln::tok
