#pragma once
// The merge loop both BPE flavours share. Symbols form a linked list over the
// input; candidate pairs wait in a priority queue ordered by priority (lower
// first) and then by position (leftmost first), which is the tie rule of both
// SentencePiece and HF `tokenizers`. A merge folds the right symbol into the
// left one, so a queued pair is stale exactly when its two symbols are no
// longer adjacent or no longer have the lengths they had when it was queued.
#include <cstddef>
#include <cstdint>
#include <queue>
#include <vector>

namespace kiln::tok {

struct Symbol {
  uint32_t start;  // byte offset in the word
  uint32_t len;    // 0: merged away
  int32_t prev;    // index of the previous live symbol, -1 at the start
  int32_t next;    // index of the next live symbol, -1 at the end
  int32_t id;      // token id, -1 when the symbol is no token (yet)
};

struct PairCandidate {
  double priority;
  uint32_t start;
  int32_t left;
  int32_t right;
  uint32_t len;  // left.len + right.len when queued
  int32_t result;
  bool operator<(const PairCandidate& o) const {  // "worse than" for std::priority_queue
    return priority != o.priority ? priority > o.priority : start > o.start;
  }
};

// lookup(left_symbol, right_symbol, priority&, result&) -> bool says whether
// two adjacent symbols can merge, how urgently, and into which token.
template <class Lookup>
void run_merges(std::vector<Symbol>& symbols, Lookup&& lookup) {
  std::priority_queue<PairCandidate> queue;
  auto try_pair = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    double priority;
    int32_t result;
    if (lookup(symbols[l], symbols[r], priority, result))
      queue.push({priority, symbols[l].start, l, r, symbols[l].len + symbols[r].len, result});
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i)
    try_pair(static_cast<int32_t>(i), static_cast<int32_t>(i + 1));
  while (!queue.empty()) {
    const PairCandidate c = queue.top();
    queue.pop();
    Symbol& l = symbols[c.left];
    Symbol& r = symbols[c.right];
    if (l.len == 0 || r.len == 0 || l.next != c.right || l.len + r.len != c.len) continue;
    l.len += r.len;
    l.id = c.result;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = c.left;
    r.len = 0;
    try_pair(l.prev, c.left);
    try_pair(c.left, l.next);
  }
}

}  // namespace kiln::tok
