// GenerationPipeline on a small hand-made vocabulary, with one-hot logits
// that force each token: how answers end (end token, stop string across
// tokens, num_predict, the caller's context limit, cancellation), what text
// is released when, the thinking split and logprobs. No model needed.
#include "engine/generation_pipeline.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"

namespace kiln::engine {
namespace {

// 0 <unk>, 1 <s>, 2 </s>, then text pieces.
const std::vector<std::string> kPieces = {"<unk>", "<s>", "</s>", "Hello", "▁world", "!", "<think>", "</think>",
                                          "hmm", "▁ok", "ST", "OP", "\xC3", "\xA9"};
enum : int32_t { kEos = 2, kHello = 3, kWorld, kBang, kOpen, kClose, kHmm, kOk, kSt, kOp };

const tok::Tokenizer& vocab() {
  static const tok::Tokenizer t = [] {
    tok::VocabSpec s;
    s.tokens = kPieces;
    s.types.assign(kPieces.size(), tok::TokenType::Normal);
    s.types[0] = tok::TokenType::Unknown;
    s.types[1] = s.types[2] = tok::TokenType::Control;
    s.unk = 0;
    s.bos = 1;
    s.eos = 2;
    return tok::Tokenizer::from_spec(std::move(s));
  }();
  return t;
}

std::vector<float> one_hot(int32_t token) {
  std::vector<float> l(kPieces.size(), 0.f);
  l[size_t(token)] = 10.f;
  return l;
}

PipelineSetup greedy(int num_predict = -1, std::vector<std::string> stop = {}) {
  PipelineSetup s;
  s.options.temperature = 0;
  s.options.repeat_last_n = 0;
  s.options.num_predict = num_predict;
  s.options.stop = std::move(stop);
  return s;
}

struct Answer {
  std::string content, thinking;
  DoneReason reason = DoneReason::Stop;
  bool ended = false;
  std::vector<int32_t> tokens;
};

// Feeds the tokens in order until the pipeline ends.
Answer run(GenerationPipeline& p, const std::vector<int32_t>& forced, size_t room = 1000) {
  Answer r;
  for (size_t i = 0; i < forced.size() && !r.ended; ++i) {
    const GenerationPipeline::Step& s = p.feed(one_hot(forced[i]), i + 1 < room);
    EXPECT_EQ(s.token, forced[i]);
    r.content += s.content;
    r.thinking += s.thinking;
    r.ended = s.ended;
    r.reason = s.reason;
  }
  r.tokens = p.tokens();
  return r;
}

const std::vector<int32_t> kPrompt = {1, kHello};

TEST(GenerationPipeline, EndTokenStopsAndIsNotAGeneratedToken) {
  GenerationPipeline p(vocab(), int32_t(kPieces.size()), greedy(), kPrompt);
  const Answer r = run(p, {kHello, kWorld, kBang, kEos, kHello});
  EXPECT_TRUE(r.ended);
  EXPECT_EQ(r.reason, DoneReason::Stop);
  EXPECT_EQ(r.content, "Hello world!");
  EXPECT_EQ(r.tokens, (std::vector<int32_t>{kHello, kWorld, kBang}));
  EXPECT_THROW(p.feed(one_hot(kHello), true), kiln::Error);
}

TEST(GenerationPipeline, StopStringAcrossTokensIsCutAndHeldBackUntilDecided) {
  GenerationPipeline p(vocab(), int32_t(kPieces.size()), greedy(-1, {"STOP"}), kPrompt);
  const GenerationPipeline::Step& a = p.feed(one_hot(kHello), true);
  EXPECT_EQ(a.content, "Hello");
  const GenerationPipeline::Step& b = p.feed(one_hot(kSt), true);
  EXPECT_EQ(b.content, "");  // "ST" may start "STOP"
  const GenerationPipeline::Step& c = p.feed(one_hot(kOp), true);
  EXPECT_TRUE(c.ended);
  EXPECT_EQ(c.reason, DoneReason::Stop);
  EXPECT_EQ(c.content, "");
}

TEST(GenerationPipeline, NumPredictAndTheContextLimitEndWithLength) {
  GenerationPipeline limited(vocab(), int32_t(kPieces.size()), greedy(2), kPrompt);
  Answer r = run(limited, {kHello, kWorld, kBang});
  EXPECT_EQ(r.reason, DoneReason::Length);
  EXPECT_EQ(r.content, "Hello world");
  GenerationPipeline full(vocab(), int32_t(kPieces.size()), greedy(), kPrompt);
  r = run(full, {kHello, kWorld, kBang}, /*room=*/2);  // no room after the second token
  EXPECT_EQ(r.reason, DoneReason::Length);
  EXPECT_EQ(r.tokens.size(), 2u);
}

TEST(GenerationPipeline, FinishReleasesHeldTextAndAPartialCharacter) {
  GenerationPipeline p(vocab(), int32_t(kPieces.size()), greedy(-1, {"STOP"}), kPrompt);
  run(p, {kHello, kSt});
  const GenerationPipeline::Step& end = p.finish(DoneReason::Cancelled);
  EXPECT_TRUE(end.ended);
  EXPECT_EQ(end.reason, DoneReason::Cancelled);
  EXPECT_EQ(end.content, "ST");  // no stop string completed: the held text is answer text
  EXPECT_TRUE(p.ended());
  // A two-byte character split over two tokens comes out whole.
  GenerationPipeline utf8(vocab(), int32_t(kPieces.size()), greedy(), kPrompt);
  const GenerationPipeline::Step& first = utf8.feed(one_hot(12), true);
  EXPECT_EQ(first.content, "");
  const GenerationPipeline::Step& second = utf8.feed(one_hot(13), true);
  EXPECT_EQ(second.content, "\xC3\xA9");
}

TEST(GenerationPipeline, ThinkingIsSplitFromTheAnswer) {
  PipelineSetup s = greedy();
  s.thinking = ThinkingTags{};
  GenerationPipeline p(vocab(), int32_t(kPieces.size()), std::move(s), kPrompt);
  const Answer r = run(p, {kOpen, kHmm, kClose, kOk, kEos});
  EXPECT_EQ(r.thinking, "hmm");
  EXPECT_EQ(r.content, "ok");
}

TEST(GenerationPipeline, LogprobsOfTheRawLogitsPerSampledToken) {
  PipelineSetup s = greedy();
  s.top_logprobs = 2;
  GenerationPipeline p(vocab(), int32_t(kPieces.size()), std::move(s), kPrompt);
  run(p, {kHello, kEos});
  const std::vector<TokenLogprobText> l = p.take_logprobs();
  ASSERT_EQ(l.size(), 2u);  // the end token's too
  EXPECT_EQ(l[0].token, kHello);
  EXPECT_EQ(l[0].text, "Hello");
  EXPECT_LT(l[0].logprob, 0.f);
  EXPECT_GT(l[0].logprob, -0.01f);  // one-hot at 10: almost certain
  ASSERT_EQ(l[0].top.size(), 2u);
  EXPECT_EQ(l[0].top[0].first, "Hello");
  EXPECT_TRUE(p.take_logprobs().empty());  // taken
  PipelineSetup bad = greedy();
  bad.top_logprobs = kMaxTopLogprobs + 1;
  EXPECT_THROW(GenerationPipeline(vocab(), int32_t(kPieces.size()), std::move(bad), kPrompt), kiln::Error);
}

}  // namespace
}  // namespace kiln::engine
