#pragma once
// Which tokens may come next under a grammar: the token mask.
//
// TokenTrie: every token's bytes (tok::Tokenizer::piece) in a trie, tokens
// numbered in the trie's depth-first order so that a subtree's tokens are
// one contiguous range. Control/unknown/unused tokens and tokens with no
// bytes never match a grammar; end-of-generation tokens are allowed exactly
// when the matcher's input is complete.
//
// TokenMasker: fill_mask() sets one bit per allowed token. Walking the whole
// trie against the matcher's stacks at every step costs tens of ms for a
// 150k vocabulary inside a JSON string, so the work is split the way
// XGrammar does (an independent design of the idea):
//   - For each stack top, only the few innermost stack nodes decide most
//     tokens. The masker walks the trie once for each distinct "top" (the
//     grammar positions of those nodes, with everything below them unknown)
//     and caches three sets: tokens accepted whatever lies below, tokens
//     rejected whatever lies below, and uncertain tokens that pop into the
//     unknown part before their last byte.
//   - At run time a step unions the accepted sets of its stacks and checks
//     only the uncertain tokens against the real stacks, sharing work
//     between tokens with common prefixes.
// The cache is built lazily, the first time a top appears; after warm-up a
// step allocates nothing. Not thread-safe: one masker per thread (or per
// sequence); the trie may be shared.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/grammar.h"
#include "engine/grammar_matcher.h"
#include "engine/grammar_stacks.h"

namespace kiln::tok {
class Tokenizer;
}

namespace kiln::engine {

class TokenTrie {
 public:
  struct Node {
    uint32_t first_child = 0, child_count = 0;
    uint32_t tok_begin = 0;  // tokens ending here: [tok_begin, own_end)
    uint32_t own_end = 0;
    uint32_t tok_end = 0;    // all tokens of the subtree: [tok_begin, tok_end)
    uint8_t byte = 0;        // edge from the parent
  };

  explicit TokenTrie(const tok::Tokenizer& tokenizer);
  // pieces[i]: token i's bytes; matchable[i]: whether the grammar may pick it
  // at all; eog: tokens allowed when the input is complete.
  TokenTrie(const std::vector<std::string>& pieces, const std::vector<bool>& matchable, std::vector<int32_t> eog);

  size_t vocab_size() const { return vocab_size_; }
  const Node& node(uint32_t i) const { return nodes_[i]; }
  const Node& root() const { return nodes_[0]; }
  size_t node_count() const { return nodes_.size(); }
  // Token id at depth-first index i, and its bytes.
  int32_t token_at(uint32_t i) const { return order_[i]; }
  std::string_view piece_at(uint32_t i) const { return pieces_[i]; }
  const std::vector<int32_t>& eog_tokens() const { return eog_; }
  size_t max_depth() const { return max_depth_; }

 private:
  void build(std::vector<std::string> pieces_by_id, const std::vector<bool>& matchable);
  uint32_t build_node(uint32_t self, uint32_t lo, uint32_t hi, size_t depth);

  size_t vocab_size_ = 0;
  std::vector<Node> nodes_;
  std::vector<int32_t> order_;       // depth-first index -> token id
  std::vector<std::string> pieces_;  // depth-first index -> bytes
  std::vector<int32_t> eog_;
  size_t max_depth_ = 0;
};

class TokenMasker {
 public:
  TokenMasker(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenTrie> trie);

  size_t mask_words() const { return (trie_->vocab_size() + 63) / 64; }
  // mask: mask_words() words; bit i of word i/64 set = token i allowed.
  // Throws kiln::Error if the matcher runs another grammar.
  void fill_mask(GrammarMatcher& matcher, std::span<uint64_t> mask);
  // Convenience: the allowed token ids, ascending.
  std::vector<int32_t> allowed_tokens(GrammarMatcher& matcher);

  size_t cache_entries() const { return entries_.size(); }
  // Token checks against real stacks in the last fill_mask (for tuning).
  size_t last_uncertain_checked() const { return last_checked_; }

 private:
  static constexpr int kMaxTop = 8;
  struct TopKey {
    uint32_t len = 0;
    uint32_t pos[kMaxTop] = {};
    bool operator==(const TopKey& o) const;
  };
  struct TopKeyHash {
    size_t operator()(const TopKey& k) const;
  };
  struct Range {
    uint32_t begin, end;  // depth-first token indices
  };
  struct Entry {
    std::vector<Range> accepted, uncertain;
  };
  struct Frame {
    detail::StackMark mark;
    uint32_t heads_begin, heads_end;
  };

  TopKey top_key(const detail::StackEngine& engine, uint32_t head) const;
  uint32_t entry_for(const TopKey& key);
  void build_entry(const TopKey& key, Entry& e);
  void walk(uint32_t trie_node, uint32_t heads_begin, uint32_t heads_end, bool popped, Entry& e);
  void check_uncertain(detail::StackEngine& engine, uint32_t head, const Entry& e, std::span<uint64_t> mask);

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const TokenTrie> trie_;
  std::unordered_map<TopKey, uint32_t, TopKeyHash> index_;
  std::vector<Entry> entries_;
  detail::StackEngine local_;  // walks for new cache entries
  std::vector<Frame> frames_;  // per depth, for uncertain-token checks
  std::vector<uint32_t> applied_;
  size_t last_checked_ = 0;
};

}  // namespace kiln::engine
