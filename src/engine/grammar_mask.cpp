// TokenTrie construction and TokenMasker: cached per-top token sets plus
// exact checks of the uncertain tokens (see grammar_mask.h).
#include "engine/grammar_mask.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace kiln::engine {

// ---- TokenTrie --------------------------------------------------------------

TokenTrie::TokenTrie(const tok::Tokenizer& tokenizer) {
  const size_t n = tokenizer.size();
  std::vector<std::string> pieces(n);
  std::vector<bool> matchable(n, false);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    if (tokenizer.is_eog(id)) {
      eog_.push_back(id);
      continue;
    }
    tok::TokenType t = tokenizer.type(id);
    if (t == tok::TokenType::Control || t == tok::TokenType::Unknown || t == tok::TokenType::Unused) continue;
    pieces[i] = std::string(tokenizer.piece(id));
    matchable[i] = !pieces[i].empty();
  }
  build(std::move(pieces), matchable);
}

TokenTrie::TokenTrie(const std::vector<std::string>& pieces, const std::vector<bool>& matchable,
                     std::vector<int32_t> eog)
    : eog_(std::move(eog)) {
  if (matchable.size() != pieces.size()) throw kiln::Error("token trie: pieces and flags differ in size");
  for (int32_t id : eog_)
    if (id < 0 || static_cast<size_t>(id) >= pieces.size()) throw kiln::Error("token trie: end token out of range");
  build(pieces, matchable);
}

void TokenTrie::build(std::vector<std::string> pieces_by_id, const std::vector<bool>& matchable) {
  vocab_size_ = pieces_by_id.size();
  for (size_t i = 0; i < pieces_by_id.size(); ++i)
    if (matchable[i] && !pieces_by_id[i].empty()) order_.push_back(static_cast<int32_t>(i));
  // Lexicographic order of the bytes is the trie's depth-first order.
  std::stable_sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) { return pieces_by_id[a] < pieces_by_id[b]; });
  pieces_.reserve(order_.size());
  for (int32_t id : order_) pieces_.push_back(std::move(pieces_by_id[id]));
  nodes_.emplace_back();
  build_node(0, 0, static_cast<uint32_t>(order_.size()), 0);
}

uint32_t TokenTrie::build_node(uint32_t self, uint32_t lo, uint32_t hi, size_t depth) {
  max_depth_ = std::max(max_depth_, depth);
  uint32_t own = lo;
  while (own < hi && pieces_[own].size() == depth) ++own;
  nodes_[self].tok_begin = lo;
  nodes_[self].own_end = own;
  nodes_[self].tok_end = hi;
  // Children are contiguous: count the distinct next bytes, reserve the
  // slots, then fill each child's subtree.
  uint32_t count = 0;
  for (uint32_t i = own; i < hi; ++i)
    if (i == own || pieces_[i][depth] != pieces_[i - 1][depth]) ++count;
  const auto first = static_cast<uint32_t>(nodes_.size());
  nodes_[self].first_child = first;
  nodes_[self].child_count = count;
  nodes_.resize(nodes_.size() + count);
  uint32_t child = first;
  for (uint32_t i = own; i < hi;) {
    const auto b = static_cast<uint8_t>(pieces_[i][depth]);
    uint32_t j = i;
    while (j < hi && static_cast<uint8_t>(pieces_[j][depth]) == b) ++j;
    nodes_[child].byte = b;
    build_node(child, i, j, depth + 1);
    ++child;
    i = j;
  }
  return self;
}

// ---- TokenMasker ------------------------------------------------------------

bool TokenMasker::TopKey::operator==(const TopKey& o) const {
  return len == o.len && std::equal(pos, pos + (len & 0xFF), o.pos);
}

size_t TokenMasker::TopKeyHash::operator()(const TopKey& k) const {
  uint64_t h = 1469598103934665603ull ^ k.len;
  for (uint32_t i = 0; i < (k.len & 0xFF); ++i) h = (h ^ k.pos[i]) * 1099511628211ull;
  return static_cast<size_t>(h);
}

TokenMasker::TokenMasker(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenTrie> trie)
    : grammar_(std::move(grammar)), trie_(std::move(trie)), local_(grammar_.get()) {
  if (!grammar_ || !trie_) throw kiln::Error("token masker needs a grammar and a token trie");
  frames_.resize(trie_->max_depth() + 2);
}

// The innermost stack nodes that decide most tokens: the head, then its
// parents for as long as everything above them can match "" (a token could
// pop through them without consuming anything they require). A head whose
// rule ends in a few more terminals (the rest of a UTF-8 character) takes
// its parents too: otherwise every multi-byte token inside a string would
// pop out of the key after one character and need an exact check. The bit
// 0x100 of len marks a stack that ends at the root, so popping past it is
// exact.
TokenMasker::TopKey TokenMasker::top_key(const detail::StackEngine& engine, uint32_t head) const {
  TopKey key;
  const detail::Node& h = engine.node(head);
  key.pos[key.len++] = h.pos;
  bool nullable = grammar_->nullable_from(h.pos + 1) || grammar_->terminals_only_from(h.pos + 1);
  uint32_t id = h.parent;
  while (nullable && id < detail::kNoNode && key.len < kMaxTop) {
    const detail::Node& n = engine.node(id);
    key.pos[key.len++] = n.pos;
    nullable = grammar_->nullable_from(n.pos);
    id = n.parent;
  }
  if (id == detail::kRootParent) key.len |= 0x100;
  return key;
}

uint32_t TokenMasker::entry_for(const TopKey& key) {
  auto it = index_.find(key);
  if (it != index_.end()) return it->second;
  entries_.emplace_back();
  build_entry(key, entries_.back());
  const auto id = static_cast<uint32_t>(entries_.size() - 1);
  index_.emplace(key, id);
  return id;
}

namespace {
// Appends [b, e) to ranges built in ascending order, merging neighbours.
template <class R>
void add_range(std::vector<R>& ranges, uint32_t b, uint32_t e) {
  if (b == e) return;
  if (!ranges.empty() && ranges.back().end == b) ranges.back().end = e;
  else ranges.push_back({b, e});
}
}  // namespace

void TokenMasker::build_entry(const TopKey& key, Entry& e) {
  local_.clear();
  uint32_t parent = (key.len & 0x100) ? detail::kRootParent : detail::kOutsideParent;
  const uint32_t len = key.len & 0xFF;
  for (uint32_t i = len; i-- > 0;) parent = local_.add_node(key.pos[i], parent);
  const uint32_t hb = local_.push_head(parent) - 1;
  walk(0, hb, hb + 1, false, e);
}

// Depth-first over the trie, advancing the local stacks one byte per edge.
// `popped`: some path left the local stacks before this node's bytes ended,
// so tokens that the local stacks reject are uncertain, not rejected.
void TokenMasker::walk(uint32_t trie_node, uint32_t hb, uint32_t he, bool popped, Entry& e) {
  const TokenTrie::Node& t = trie_->node(trie_node);
  const ByteSet next = local_.next_bytes(hb, he);
  for (uint32_t c = t.first_child; c < t.first_child + t.child_count; ++c) {
    const TokenTrie::Node& ch = trie_->node(c);
    if (!next.has(ch.byte)) {
      if (popped) add_range(e.uncertain, ch.tok_begin, ch.tok_end);
      continue;
    }
    const detail::StackMark m = local_.mark();
    const detail::StepResult r = local_.advance(hb, he, ch.byte);
    // Popping out after a token's last byte is fine: the real stack below
    // can always continue (every rule of a built grammar can match).
    if (r.alive()) add_range(e.accepted, ch.tok_begin, ch.own_end);
    else if (popped) add_range(e.uncertain, ch.tok_begin, ch.own_end);
    const bool sub_popped = popped || r.outside;
    if (ch.child_count > 0) {
      if (r.heads_end > r.heads_begin) walk(c, r.heads_begin, r.heads_end, sub_popped, e);
      else if (sub_popped) add_range(e.uncertain, ch.own_end, ch.tok_end);
    }
    local_.rewind(m);
  }
}

// Checks each uncertain token of `e` from the real stack under `head`.
// Tokens come in depth-first order, so consecutive ones share prefixes:
// frames_[d] holds the stacks after the first d bytes of the previous token
// and a token restarts from its common prefix with it.
void TokenMasker::check_uncertain(detail::StackEngine& engine, uint32_t head, const Entry& e,
                                  std::span<uint64_t> mask) {
  const detail::StackMark base = engine.mark();
  const uint32_t hb = engine.push_head(head) - 1;
  frames_[0] = {engine.mark(), hb, hb + 1};
  std::string_view prev;
  size_t reached = 0;  // bytes of prev that the stacks took
  for (const Range& range : e.uncertain) {
    for (uint32_t k = range.begin; k < range.end; ++k) {
      const int32_t tok = trie_->token_at(k);
      if ((mask[static_cast<uint32_t>(tok) >> 6] >> (tok & 63)) & 1) continue;
      const std::string_view piece = trie_->piece_at(k);
      size_t l = 0;
      const size_t lim = std::min(prev.size(), piece.size());
      while (l < lim && prev[l] == piece[l]) ++l;
      if (l > reached) continue;  // shares the byte that killed prev
      ++last_checked_;
      size_t d = l;
      engine.rewind(frames_[d].mark);
      while (d < piece.size()) {
        const detail::StepResult r =
            engine.advance(frames_[d].heads_begin, frames_[d].heads_end, static_cast<uint8_t>(piece[d]));
        if (!r.alive()) break;
        ++d;
        frames_[d] = {engine.mark(), r.heads_begin, r.heads_end};
      }
      reached = d;
      prev = piece;
      if (d == piece.size()) mask[static_cast<uint32_t>(tok) >> 6] |= uint64_t{1} << (tok & 63);
    }
  }
  engine.rewind(base);
}

void TokenMasker::fill_mask(GrammarMatcher& matcher, std::span<uint64_t> mask) {
  if (matcher.grammar_.get() != grammar_.get()) throw kiln::Error("token masker and matcher use different grammars");
  if (mask.size() < mask_words())
    throw kiln::Error("token mask has " + std::to_string(mask.size()) + " words, needs " + std::to_string(mask_words()));
  std::fill(mask.begin(), mask.end(), 0);
  applied_.clear();
  last_checked_ = 0;
  detail::StackEngine& engine = matcher.engine_;
  for (uint32_t i = matcher.heads_begin_; i < matcher.heads_end_; ++i) {
    const uint32_t head = engine.head(i);
    const uint32_t id = entry_for(top_key(engine, head));
    const Entry& e = entries_[id];
    if (std::find(applied_.begin(), applied_.end(), id) == applied_.end()) {
      applied_.push_back(id);
      for (const Range& r : e.accepted)
        for (uint32_t k = r.begin; k < r.end; ++k) {
          const auto tok = static_cast<uint32_t>(trie_->token_at(k));
          mask[tok >> 6] |= uint64_t{1} << (tok & 63);
        }
    }
    if (!e.uncertain.empty()) check_uncertain(engine, head, e, mask);
  }
  if (matcher.is_complete())
    for (int32_t tok : trie_->eog_tokens()) mask[static_cast<uint32_t>(tok) >> 6] |= uint64_t{1} << (tok & 63);
}

std::vector<int32_t> TokenMasker::allowed_tokens(GrammarMatcher& matcher) {
  std::vector<uint64_t> mask(mask_words());
  fill_mask(matcher, mask);
  std::vector<int32_t> out;
  for (size_t i = 0; i < trie_->vocab_size(); ++i)
    if ((mask[i >> 6] >> (i & 63)) & 1) out.push_back(static_cast<int32_t>(i));
  return out;
}

}  // namespace kiln::engine
