#include "engine/thinking.h"

#include <algorithm>
#include <utility>

#include "engine/tool_call_scan.h"

namespace kiln::engine {
namespace {

void drop_space(std::string& s) {
  size_t n = 0;
  while (n < s.size() && is_space(s[n])) ++n;
  s.erase(0, n);
}

}  // namespace

std::optional<ThinkingTags> detect_thinking_tags(std::string_view source) {
  static const ThinkingTags kKnown[] = {
      {"<think>", "</think>"}, {"<thinking>", "</thinking>"}, {"[THINK]", "[/THINK]"}};
  for (const auto& tags : kKnown)
    if (source.find(tags.open) != std::string_view::npos && source.find(tags.close) != std::string_view::npos)
      return tags;
  return std::nullopt;
}

bool prompt_opens_thinking(std::string_view prompt, const ThinkingTags& tags) {
  const size_t at = prompt.rfind(tags.open);
  if (at == std::string_view::npos) return false;
  const std::string_view rest = prompt.substr(at + tags.open.size());
  return std::all_of(rest.begin(), rest.end(), is_space);
}

ThinkingSplitter::ThinkingSplitter(ThinkingTags tags, bool starts_inside)
    : tags_(std::move(tags)), state_(starts_inside ? State::kThinking : State::kBeforeOpen),
      skip_space_(starts_inside) {}

ThinkingSplitter::Output ThinkingSplitter::feed(std::string_view piece) {
  Output out;
  buf_.append(piece);
  run(false, out);
  return out;
}

ThinkingSplitter::Output ThinkingSplitter::finish() {
  Output out;
  run(true, out);
  return out;
}

void ThinkingSplitter::run(bool eof, Output& out) {
  for (;;) {
    switch (state_) {
      case State::kBeforeOpen: {
        size_t n = 0;
        while (n < buf_.size() && is_space(buf_[n])) ++n;
        pending_.append(buf_, 0, n);
        buf_.erase(0, n);
        if (buf_.starts_with(tags_.open)) {
          buf_.erase(0, tags_.open.size());
          pending_.clear();
          state_ = State::kThinking;
          skip_space_ = true;
          continue;
        }
        const bool could_open = buf_.size() < tags_.open.size() &&
                                std::string_view(tags_.open).substr(0, buf_.size()) == buf_;
        if (!eof && could_open) return;  // includes an empty buffer
        // No opening tag first: no thinking; this and the rest is content.
        buf_.insert(0, pending_);
        pending_.clear();
        state_ = State::kContent;
        continue;
      }

      case State::kThinking: {
        if (skip_space_) {
          drop_space(buf_);
          if (buf_.empty()) return;
          skip_space_ = false;
        }
        const size_t at = buf_.find(tags_.close);
        size_t release = at != std::string::npos ? at
                         : eof ? buf_.size()
                               : buf_.size() - std::max(marker_overlap(buf_, tags_.close),
                                                        incomplete_utf8_tail(buf_));
        // Whitespace is released only once something follows it, so that
        // the whitespace before the closing tag (or the end) is dropped.
        while (release > 0 && is_space(buf_[release - 1])) --release;
        out.thinking.append(buf_, 0, release);
        if (at != std::string::npos) {
          buf_.erase(0, at + tags_.close.size());
          state_ = State::kAfterClose;
          continue;
        }
        buf_.erase(0, eof ? buf_.size() : release);
        return;
      }

      case State::kAfterClose:
        drop_space(buf_);
        if (buf_.empty()) return;
        state_ = State::kContent;
        continue;

      case State::kContent: {
        const size_t hold = eof ? 0 : incomplete_utf8_tail(buf_);
        out.content.append(buf_, 0, buf_.size() - hold);
        buf_.erase(0, buf_.size() - hold);
        return;
      }
    }
  }
}

}  // namespace kiln::engine
