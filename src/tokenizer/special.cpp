#include "tokenizer/special.h"

#include <algorithm>

namespace kiln::tok {

void SpecialMatcher::build(std::vector<Candidate> candidates) {
  std::erase_if(candidates, [](const Candidate& c) { return c.text.empty(); });
  // Sorting by text, then id, keeps the lowest id first among duplicates.
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.text != b.text ? a.text < b.text : a.id < b.id;
  });
  sorted_.clear();
  for (const Candidate& c : candidates)
    if (sorted_.empty() || sorted_.back().text != c.text) sorted_.push_back(c);
  std::fill(std::begin(first_byte_), std::end(first_byte_), false);
  has_user_defined_ = false;
  for (const Candidate& c : sorted_) {
    first_byte_[static_cast<unsigned char>(c.text[0])] = true;
    if (!c.control) has_user_defined_ = true;
  }
}

int SpecialMatcher::longest_match_at(std::string_view text, size_t pos, bool parse_special) const {
  size_t lo = 0, hi = sorted_.size();
  int best = -1;
  for (size_t depth = 0; pos + depth < text.size() && lo < hi; ++depth) {
    const char c = text[pos + depth];
    // Within [lo, hi) all texts share text[pos, pos+depth); the ones whose
    // byte at `depth` equals c form a contiguous sub-range. Texts of length
    // exactly `depth` sort first and drop out here.
    auto byte_at = [depth](const Candidate& cand) {
      return depth < cand.text.size() ? static_cast<int>(static_cast<unsigned char>(cand.text[depth])) : -1;
    };
    const int want = static_cast<unsigned char>(c);
    size_t a = lo, b = hi;
    while (a < b) {  // first with byte >= want
      const size_t m = (a + b) / 2;
      if (byte_at(sorted_[m]) < want) a = m + 1; else b = m;
    }
    size_t e = a, f = hi;
    while (e < f) {  // first with byte > want
      const size_t m = (e + f) / 2;
      if (byte_at(sorted_[m]) <= want) e = m + 1; else f = m;
    }
    lo = a;
    hi = e;
    if (lo < hi && sorted_[lo].text.size() == depth + 1 && (parse_special || !sorted_[lo].control))
      best = static_cast<int>(lo);
  }
  return best;
}

void SpecialMatcher::partition(std::string_view text, bool parse_special,
                               std::vector<Fragment>& out) const {
  if (sorted_.empty() || (!parse_special && !has_user_defined_)) {
    if (!text.empty()) out.push_back(Fragment{text, -1, 0});
    return;
  }
  size_t start = 0;  // start of the pending plain-text fragment
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const int m = longest_match_at(text, pos, parse_special);
    if (m < 0) {
      ++pos;
      continue;
    }
    if (pos > start) out.push_back(Fragment{text.substr(start, pos - start), -1, start});
    out.push_back(Fragment{{}, sorted_[m].id, pos});
    pos += sorted_[m].text.size();
    start = pos;
  }
  if (start < text.size()) out.push_back(Fragment{text.substr(start), -1, start});
}

}  // namespace kiln::tok
