// The thinking splitter: <think> blocks at the start of the output, a block
// opened by the template's generation prompt, no thinking at all, unclosed
// blocks, whitespace rules, UTF-8, tag detection from templates, and the cut
// property (any way of cutting the output gives the same split). Expected
// splits are the input's own bytes on either side of the tags.
#include "engine/thinking.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "template/chat_template.h"

namespace kiln::engine {
namespace {

struct Split {
  std::string thinking, content;
  bool operator==(const Split&) const = default;
};

Split run(ThinkingSplitter s, const std::vector<std::string>& pieces) {
  Split r;
  std::string order;  // 't'/'c' per non-empty release: thinking must come first
  const auto add = [&](const ThinkingSplitter::Output& o) {
    r.thinking += o.thinking;
    r.content += o.content;
    if (!o.thinking.empty()) order += 't';
    if (!o.content.empty()) order += 'c';
  };
  for (const auto& p : pieces) add(s.feed(p));
  add(s.finish());
  EXPECT_EQ(order.find("ct"), std::string::npos) << "thinking released after content";
  return r;
}

Split split(const std::string& text, bool inside = false, ThinkingTags tags = {}) {
  return run(ThinkingSplitter(std::move(tags), inside), {text});
}

std::string read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Thinking, BlockAtTheStart) {
  EXPECT_EQ(split("<think>\nThe user asks 2+2. That is 4.\n</think>\n\nThe answer is 4."),
            (Split{"The user asks 2+2. That is 4.", "The answer is 4."}));
}

TEST(Thinking, GenerationPromptOpenedTheBlock) {
  EXPECT_EQ(split("\nHmm, {braces} and <tags>.\n</think>\n\n4", true), (Split{"Hmm, {braces} and <tags>.", "4"}));
}

TEST(Thinking, NoThinkingWhenTextComesFirst) {
  const std::string text = "  Paris is the capital. <think>not thinking</think>";
  EXPECT_EQ(split(text), (Split{"", text}));
  EXPECT_EQ(split("<thin>k"), (Split{"", "<thin>k"}));
}

TEST(Thinking, EmptyBlockAsQwen3WritesWithThinkingOff) {
  EXPECT_EQ(split("<think>\n\n</think>\n\nHello"), (Split{"", "Hello"}));
}

TEST(Thinking, UnclosedBlockIsThinking) {
  EXPECT_EQ(split("<think>\nStill going </thi"), (Split{"Still going </thi", ""}));
  EXPECT_EQ(split("Still going\n", true), (Split{"Still going", ""}));
}

TEST(Thinking, PartialOpeningTagAtTheEndIsContent) {
  EXPECT_EQ(split(" <thi"), (Split{"", " <thi"}));
}

TEST(Thinking, WhitespaceInsideIsKeptAroundIsDropped) {
  EXPECT_EQ(split("\n\n<think>  a\n\n b  \n</think>  \n c \n"), (Split{"a\n\n b", "c \n"}));
}

TEST(Thinking, StreamsThinkingAsItComes) {
  ThinkingSplitter s;
  EXPECT_EQ(s.feed("<thi").thinking, "");
  EXPECT_EQ(s.feed("nk>\nOkay, ").thinking, "Okay,");  // the space waits for what follows
  EXPECT_EQ(s.feed("so 2+2 <").thinking, " so 2+2");
  auto o = s.feed("/think>\n\nFour");
  EXPECT_EQ(o.thinking, "");
  EXPECT_EQ(o.content, "Four");
  EXPECT_TRUE(s.thinking_done());
  EXPECT_EQ(s.feed(".").content, ".");
}

TEST(Thinking, Utf8) {
  ThinkingSplitter s({}, true);
  EXPECT_EQ(s.feed("r\xC3").thinking, "r");
  EXPECT_EQ(s.feed("\xA9sum\xC3\xA9 \xF0\x9F").thinking, "\xC3\xA9sum\xC3\xA9");
  EXPECT_EQ(s.feed("\xA4\x94</think>\xE4\xB8").thinking, " \xF0\x9F\xA4\x94");
  EXPECT_EQ(s.feed("\x96").content, "\xE4\xB8\x96");
}

TEST(Thinking, OtherTags) {
  EXPECT_EQ(split("[THINK]plan[/THINK]answer", false, {"[THINK]", "[/THINK]"}), (Split{"plan", "answer"}));
}

TEST(Thinking, TagsFromTemplates) {
  const auto qwen3 = detect_thinking_tags(read(std::string(KILN_FIXTURES) + "/template/extra/qwen3.jinja"));
  ASSERT_TRUE(qwen3.has_value());
  EXPECT_EQ(qwen3->open, "<think>");
  EXPECT_EQ(qwen3->close, "</think>");
  for (const std::string name : {"qwen2.5", "llama3", "gemma3", "mistral"})
    EXPECT_FALSE(detect_thinking_tags(*tmpl::builtin_chat_template(name)).has_value()) << name;
}

TEST(Thinking, PromptOpensThinking) {
  const ThinkingTags tags;
  EXPECT_TRUE(prompt_opens_thinking("<|im_start|>assistant\n<think>\n", tags));
  EXPECT_FALSE(prompt_opens_thinking("<|im_start|>assistant\n<think>\n\n</think>\n\n", tags));
  EXPECT_FALSE(prompt_opens_thinking("<|im_start|>assistant\n", tags));
  EXPECT_FALSE(prompt_opens_thinking("<think>x</think><|im_start|>user\nsay <think><|im_end|>\n<|im_start|>assistant\n", tags));
}

TEST(Thinking, Qwen3GenerationPromptWithThinkingOff) {
  // The real template, rendered: with enable_thinking=false it closes an
  // empty block in the prompt, so the output starts outside thinking.
  const tmpl::ChatTemplate chat(read(std::string(KILN_FIXTURES) + "/template/extra/qwen3.jinja"));
  const nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}});
  const ThinkingTags tags;
  EXPECT_FALSE(prompt_opens_thinking(chat.render(messages, nullptr, true, {{"enable_thinking", false}}), tags));
  EXPECT_FALSE(prompt_opens_thinking(chat.render(messages), tags));
  // A template that opens the block itself (DeepSeek-R1 style).
  const tmpl::ChatTemplate r1("{% for m in messages %}<|User|>{{ m.content }}{% endfor %}"
                              "{% if add_generation_prompt %}<|Assistant|><think>\n{% endif %}");
  EXPECT_TRUE(prompt_opens_thinking(r1.render(messages), tags));
}

// Every way of cutting the output into pieces gives the same split as
// feeding it whole: exhaustively for short texts, byte by byte and at random
// for longer ones.
TEST(Thinking, AnyCutGivesTheSameSplit) {
  const std::vector<std::pair<std::string, bool>> corpus = {
      {"<think>a b</think> c", false},
      {" <think>\n</think>x", false},
      {"x<think>y", false},
      {"<think>é</think>ü", false},
      {"ab </thi </think>", true},
      {"<think>\nLet me see: {\"a\": 1} < 2 </ think> </thinker>\n</think>\n\nFinal: \xE4\xB8\x96\xE7\x95\x8C.", false},
      {"\n\nOkay, so the user wants </think\n more </think> and </think> again", true},
      {"Just an answer with <think> in the middle.", false},
  };
  std::mt19937 rng(7);
  for (const auto& [text, inside] : corpus) {
    const Split whole = split(text, inside);
    const size_t n = text.size();
    if (n <= 18) {
      for (uint32_t mask = 0; mask < (1u << (n - 1)); ++mask) {
        std::vector<std::string> pieces(1);
        for (size_t i = 0; i < n; ++i) {
          pieces.back() += text[i];
          if (i + 1 < n && (mask >> i & 1)) pieces.emplace_back();
        }
        ASSERT_EQ(run(ThinkingSplitter({}, inside), pieces), whole) << text << " mask " << mask;
      }
    }
    std::vector<std::string> bytes;
    for (char c : text) bytes.emplace_back(1, c);
    EXPECT_EQ(run(ThinkingSplitter({}, inside), bytes), whole) << text;
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<std::string> pieces;
      for (size_t i = 0; i < n;) {
        const size_t len = std::uniform_int_distribution<size_t>(0, 6)(rng);
        pieces.push_back(text.substr(i, len));
        i += len;
      }
      ASSERT_EQ(run(ThinkingSplitter({}, inside), pieces), whole) << text;
    }
  }
}

}  // namespace
}  // namespace kiln::engine
