#pragma once
// Thinking (reasoning) text, split from the answer as it streams. Models with
// reasoning (Qwen3, DeepSeek-R1 distills, QwQ, Magistral) write
//     <think>\n...reasoning...\n</think>\n\nanswer
// and Ollama returns the reasoning in message.thinking (with `think`) and
// the answer in message.content. Some templates open the block themselves
// in the generation prompt (the output then starts inside it, with no
// opening tag); prompt_opens_thinking() tells from the rendered prompt.
//
// Splitting follows Ollama's parser: whitespace before the opening tag is
// skipped; if anything else comes first, there is no thinking and all of the
// output is content. Whitespace right after the opening tag and right after
// the closing tag is dropped, and so is whitespace right before the closing
// tag (Qwen3's template strips it too when it renders the turn back). Text is
// released as soon as it cannot be part of a tag, and never depends on how
// the output was cut into pieces. An unclosed block at the end is thinking.
#include <optional>
#include <string>
#include <string_view>

namespace kiln::engine {

struct ThinkingTags {
  std::string open = "<think>";
  std::string close = "</think>";
};

// The first known pair (<think>, <thinking>, [THINK]) whose two tags both
// appear in the template source; nullopt for templates without thinking.
std::optional<ThinkingTags> detect_thinking_tags(std::string_view template_source);

// True when the rendered prompt leaves a thinking block open: its last
// opening tag is followed by whitespace only (no closing tag).
bool prompt_opens_thinking(std::string_view prompt, const ThinkingTags& tags);

class ThinkingSplitter {
 public:
  struct Output {
    std::string thinking;  // released thinking text
    std::string content;   // released answer text (always after the thinking)
  };

  explicit ThinkingSplitter(ThinkingTags tags = {}, bool starts_inside = false);

  Output feed(std::string_view piece);
  // End of generation: releases what is held.
  Output finish();

  bool thinking_done() const { return state_ == State::kAfterClose || state_ == State::kContent; }

 private:
  enum class State { kBeforeOpen, kThinking, kAfterClose, kContent };
  void run(bool eof, Output& out);

  ThinkingTags tags_;
  State state_;
  bool skip_space_ = false;  // at the start of the thinking text
  std::string buf_;          // unreleased input
  std::string pending_;      // whitespace before the opening tag
};

}  // namespace kiln::engine
