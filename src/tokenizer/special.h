#pragma once
// Cuts added tokens (CONTROL, UNKNOWN, USER_DEFINED) out of the text before
// the BPE algorithms see it. Matching is leftmost-longest, as HF `tokenizers`'
// AddedVocabulary does: the earliest position where any token matches wins,
// and among tokens matching there the longest one.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::tok {

struct Fragment {
  std::string_view text;  // empty for a token fragment
  int32_t token = -1;     // >= 0: a matched added token
  size_t offset = 0;      // byte offset in the input
};

class SpecialMatcher {
 public:
  struct Candidate {
    std::string_view text;  // points into the vocabulary's storage
    int32_t id;
    bool control;  // matched only when parse_special is on
  };
  void build(std::vector<Candidate> candidates);
  // Appends fragments covering all of text, in order.
  void partition(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;

 private:
  // Longest active candidate matching at text[pos...]; -1 if none. Walks the
  // sorted candidate list like a trie: each byte narrows the range sharing the
  // prefix.
  int longest_match_at(std::string_view text, size_t pos, bool parse_special) const;
  std::vector<Candidate> sorted_;  // by text, bytewise
  bool first_byte_[256] = {};
  bool has_user_defined_ = false;
};

}  // namespace kiln::tok
