// StackEngine: closure of grammar stacks over rule expansions and returns,
// one consumed byte at a time.
#include "engine/grammar_stacks.h"

#include <string>

#include "core/error.h"

namespace kiln::engine::detail {

void StackEngine::begin_step(uint32_t expected_nodes) {
  // Keep the table at most half full for the step; growing happens only
  // while a grammar is warming up (new, larger closures).
  size_t want = 64;
  while (want < 2 * size_t{expected_nodes}) want *= 2;
  if (table_.size() < want) {
    table_.assign(want, Slot{0, kNoNode, 0, false});
    gen_ = 0;
  }
  if (++gen_ == 0) {  // wrapped: old stamps could look current
    for (Slot& s : table_) s.gen = 0;
    gen_ = 1;
  }
  table_used_ = 0;
  work_.clear();
}

StackEngine::Slot& StackEngine::slot(uint32_t pos, uint32_t parent) {
  if (2 * (table_used_ + 1) > table_.size()) {
    // Rehash the live entries into a table twice the size.
    std::vector<Slot> old;
    old.swap(table_);
    table_.assign(old.size() * 2, Slot{0, kNoNode, 0, false});
    const uint32_t g = gen_;
    table_used_ = 0;
    for (const Slot& s : old) {
      if (s.gen != g) continue;
      Slot& n = slot(static_cast<uint32_t>(s.key >> 32), static_cast<uint32_t>(s.key));
      n.id = s.id;
      n.expanded = s.expanded;
    }
  }
  const uint64_t key = (uint64_t{pos} << 32) | parent;
  const size_t mask = table_.size() - 1;
  size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
  for (;; i = (i + 1) & mask) {
    Slot& s = table_[i];
    if (s.gen != gen_) {
      s = Slot{key, kNoNode, gen_, false};
      ++table_used_;
      return s;
    }
    if (s.key == key) return s;
  }
}

uint32_t StackEngine::node_for(uint32_t pos, uint32_t parent) {
  Slot& s = slot(pos, parent);
  if (s.id == kNoNode) s.id = add_node(pos, parent);
  return s.id;
}

void StackEngine::run(StepResult& r) {
  r.heads_begin = static_cast<uint32_t>(heads_.size());
  uint32_t expansions = 0;
  while (!work_.empty()) {
    // An ambiguous grammar (nested repetitions of one item, alternatives
    // that match the same text) can multiply the stacks at every byte; a
    // user's grammar must not be able to stall the server that way.
    if (++expansions > kMaxExpansionsPerStep)
      throw kiln::Error("grammar is too ambiguous: more than " + std::to_string(kMaxExpansionsPerStep) +
                        " parse states after one byte (simplify nested repetitions such as (x+)+)");
    const Work w = work_.back();
    work_.pop_back();
    Slot& s = slot(w.pos, w.parent);
    if (s.expanded) continue;
    s.expanded = true;
    if (s.id == kNoNode) s.id = w.id;
    const Symbol sym = g_->symbol(w.pos);
    switch (sym.kind) {
      case SymbolKind::Terminal:
        if (s.id == kNoNode) s.id = add_node(w.pos, w.parent);
        heads_.push_back(s.id);
        break;
      case SymbolKind::End:
        if (w.parent == kRootParent) {
          r.complete = true;
        } else if (w.parent == kOutsideParent) {
          r.outside = true;
        } else {
          const Node p = nodes_[w.parent];
          work_.push_back({p.pos, p.parent, w.parent});
        }
        break;
      case SymbolKind::Rule: {
        // Tail call: nothing follows the reference, so return straight to
        // our own parent instead of pushing a node that only pops.
        const uint32_t ret =
            g_->symbol(w.pos + 1).kind == SymbolKind::End ? w.parent : node_for(w.pos + 1, w.parent);
        auto [b, e] = g_->alternatives(sym.index);
        for (auto it = b; it != e; ++it) work_.push_back({*it, ret, kNoNode});
        break;
      }
    }
  }
  r.heads_end = static_cast<uint32_t>(heads_.size());
}

StepResult StackEngine::start() {
  begin_step(64);
  auto [b, e] = g_->alternatives(g_->root());
  for (auto it = b; it != e; ++it) work_.push_back({*it, kRootParent, kNoNode});
  StepResult r;
  run(r);
  return r;
}

StepResult StackEngine::expand_at(uint32_t pos, uint32_t parent) {
  begin_step(64);
  work_.push_back({pos, parent, kNoNode});
  StepResult r;
  run(r);
  return r;
}

StepResult StackEngine::advance(uint32_t begin, uint32_t end, uint8_t b) {
  begin_step(4 * (end - begin) + 16);
  for (uint32_t i = begin; i < end; ++i) {
    const Node n = nodes_[heads_[i]];
    if (g_->terminal(g_->symbol(n.pos).index).has(b)) work_.push_back({n.pos + 1, n.parent, kNoNode});
  }
  StepResult r;
  if (work_.empty()) {
    r.heads_begin = r.heads_end = static_cast<uint32_t>(heads_.size());
    return r;
  }
  run(r);
  return r;
}

ByteSet StackEngine::next_bytes(uint32_t begin, uint32_t end) const {
  ByteSet s;
  for (uint32_t i = begin; i < end; ++i) s |= g_->terminal(g_->symbol(nodes_[heads_[i]].pos).index);
  return s;
}

uint32_t StackEngine::compact(uint32_t begin, uint32_t end) {
  constexpr uint32_t kUnmarked = kNoNode, kMarked = 0;
  remap_.assign(nodes_.size(), kUnmarked);
  for (uint32_t i = begin; i < end; ++i)
    for (uint32_t id = heads_[i]; id < kNoNode && remap_[id] == kUnmarked; id = nodes_[id].parent) remap_[id] = kMarked;
  // A parent is always older (smaller id) than its children, so one
  // ascending pass renumbers parents before the nodes that point at them.
  uint32_t count = 0;
  for (uint32_t id = 0; id < nodes_.size(); ++id) {
    if (remap_[id] == kUnmarked) continue;
    Node n = nodes_[id];
    if (n.parent < kNoNode) n.parent = remap_[n.parent];
    nodes_[count] = n;
    remap_[id] = count++;
  }
  nodes_.resize(count);
  for (uint32_t i = begin; i < end; ++i) heads_[i - begin] = remap_[heads_[i]];
  heads_.resize(end - begin);
  return end - begin;
}

}  // namespace kiln::engine::detail
