#pragma once
// The set-of-stacks core shared by GrammarMatcher and TokenMasker.
//
// A parse position is a stack of grammar positions, as in llama.cpp's
// grammar matcher, but stored as a persistent linked list: a Node is
// (pos, parent) where pos is the symbol to match next and parent the node to
// continue with when pos's alternative ends. Stacks share their tails, a
// step only appends nodes, and undoing a step is truncating two arrays. That
// makes checkpoints, rewinds and the mask's trie walk (advance a byte,
// recurse, undo) cheap and free of heap allocation once the arrays have grown.
//
// Heads are nodes whose pos is a Terminal; a state is a contiguous range of
// heads plus "complete" (some stack emptied: the input is a sentence).
//
// Within a step, nodes are hash-consed on (pos, parent), so stacks reached
// along several paths are expanded once; a rule reference that ends its
// alternative does not push a return node (a tail call), so right recursion
// such as `x ::= "a" x | ""` keeps stacks flat.
#include <cstdint>
#include <span>
#include <vector>

#include "engine/grammar.h"

namespace kiln::engine::detail {

inline constexpr uint32_t kRootParent = 0xFFFFFFFFu;     // below the start rule
inline constexpr uint32_t kOutsideParent = 0xFFFFFFFEu;  // context the mask cache does not see
inline constexpr uint32_t kNoNode = 0xFFFFFFFDu;
// Symbol expansions one step may take before the grammar is rejected as too
// ambiguous (JSON-schema grammars stay below a few hundred).
inline constexpr uint32_t kMaxExpansionsPerStep = 1u << 16;

struct Node {
  uint32_t pos;
  uint32_t parent;
};

struct StackMark {
  uint32_t nodes = 0;
  uint32_t heads = 0;
};

struct StepResult {
  uint32_t heads_begin = 0, heads_end = 0;
  bool complete = false;  // a stack popped to kRootParent
  bool outside = false;   // a stack popped to kOutsideParent
  bool alive() const { return heads_end > heads_begin || complete || outside; }
};

class StackEngine {
 public:
  explicit StackEngine(const Grammar* g) : g_(g) {}

  const Grammar& grammar() const { return *g_; }
  StackMark mark() const { return {static_cast<uint32_t>(nodes_.size()), static_cast<uint32_t>(heads_.size())}; }
  void rewind(StackMark m) {
    nodes_.resize(m.nodes);
    heads_.resize(m.heads);
  }
  void clear() {
    nodes_.clear();
    heads_.clear();
  }

  const Node& node(uint32_t id) const { return nodes_[id]; }
  uint32_t add_node(uint32_t pos, uint32_t parent) {
    nodes_.push_back({pos, parent});
    return static_cast<uint32_t>(nodes_.size() - 1);
  }
  std::span<const uint32_t> heads(uint32_t begin, uint32_t end) const { return {heads_.data() + begin, end - begin}; }
  uint32_t head(uint32_t i) const { return heads_[i]; }
  // Appends a copy of existing head ids (to start a walk from one stack).
  uint32_t push_head(uint32_t id) {
    heads_.push_back(id);
    return static_cast<uint32_t>(heads_.size());
  }

  // The stacks of the start rule.
  StepResult start();
  // Expands `pos` on top of `parent` (pos may be any kind of symbol).
  StepResult expand_at(uint32_t pos, uint32_t parent);
  // Consumes byte b from heads [begin, end): appends the new heads.
  StepResult advance(uint32_t begin, uint32_t end, uint8_t b);
  // The bytes any of heads [begin, end) can take.
  ByteSet next_bytes(uint32_t begin, uint32_t end) const;

  // Copies the stacks under heads [begin, end) to the front of the arrays
  // (drops all other nodes and heads); returns the new head range end.
  uint32_t compact(uint32_t begin, uint32_t end);
  size_t node_count() const { return nodes_.size(); }

 private:
  struct Slot {
    uint64_t key;
    uint32_t id;
    uint32_t gen;
    bool expanded;
  };
  struct Work {
    uint32_t pos, parent, id;
  };

  void begin_step(uint32_t expected_nodes);
  Slot& slot(uint32_t pos, uint32_t parent);
  uint32_t node_for(uint32_t pos, uint32_t parent);
  void run(StepResult& r);

  const Grammar* g_;
  std::vector<Node> nodes_;
  std::vector<uint32_t> heads_;
  std::vector<Slot> table_;
  uint32_t table_used_ = 0;
  uint32_t gen_ = 0;
  std::vector<Work> work_;
  std::vector<uint32_t> remap_;
};

}  // namespace kiln::engine::detail
