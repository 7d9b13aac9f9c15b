#include "engine/stop.h"

#include <algorithm>

namespace kiln::engine {
namespace {

// Trailing bytes that begin a UTF-8 character but do not finish it.
size_t incomplete_utf8_tail(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;  // plain ASCII, or stray continuation bytes: nothing to wait for
}

}  // namespace

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (auto& s : stops) {
    if (s.empty()) continue;
    Automaton a;
    a.fail.assign(s.size(), 0);
    for (size_t i = 1, k = 0; i < s.size(); ++i) {
      while (k > 0 && s[i] != s[k]) k = static_cast<size_t>(a.fail[k - 1]);
      if (s[i] == s[k]) ++k;
      a.fail[i] = static_cast<int>(k);
    }
    a.text = s;
    stops_.push_back(std::move(a));
    strings_.push_back(std::move(s));
  }
  size_t longest = 0;
  for (const auto& a : stops_) longest = std::max(longest, a.text.size());
  held_.reserve(longest + 256);
  out_.reserve(longest + 256);
}

StopMatcher::Result StopMatcher::feed(std::string_view piece) {
  out_.clear();
  if (stopped()) return {out_, true};
  const size_t begin = held_.size();
  held_.append(piece);
  for (size_t i = begin; i < held_.size(); ++i) {
    const char c = held_[i];
    int hit = -1;
    for (size_t s = 0; s < stops_.size(); ++s) {
      Automaton& a = stops_[s];
      int q = a.state;
      while (q > 0 && a.text[static_cast<size_t>(q)] != c) q = a.fail[static_cast<size_t>(q) - 1];
      if (a.text[static_cast<size_t>(q)] == c) ++q;
      a.state = q;
      if (static_cast<size_t>(q) == a.text.size() &&
          (hit < 0 || a.text.size() > stops_[static_cast<size_t>(hit)].text.size()))
        hit = static_cast<int>(s);
    }
    if (hit >= 0) {
      // Every automaton's matched tail is inside held_ (holdback keeps it),
      // so the stop string starts within held_.
      const size_t start = i + 1 - stops_[static_cast<size_t>(hit)].text.size();
      out_.assign(held_, 0, start);
      held_.clear();
      matched_ = hit;
      return {out_, true};
    }
  }
  // Hold back the longest tail that is still the beginning of a stop string
  // (an automaton's state is exactly that length) or of a UTF-8 character.
  size_t hold = incomplete_utf8_tail(held_);
  for (const auto& a : stops_) hold = std::max(hold, static_cast<size_t>(a.state));
  hold = std::min(hold, held_.size());
  const size_t release = held_.size() - hold;
  out_.assign(held_, 0, release);
  held_.erase(0, release);
  return {out_, false};
}

std::string_view StopMatcher::flush() {
  out_.clear();
  if (stopped()) return out_;
  out_.swap(held_);
  held_.clear();
  for (auto& a : stops_) a.state = 0;
  return out_;
}

void StopMatcher::reset() {
  held_.clear();
  out_.clear();
  matched_ = -1;
  for (auto& a : stops_) a.state = 0;
}

std::string_view StopMatcher::matched() const {
  return matched_ < 0 ? std::string_view() : std::string_view(strings_[static_cast<size_t>(matched_)]);
}

}  // namespace kiln::engine
