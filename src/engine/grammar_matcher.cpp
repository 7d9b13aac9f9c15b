// GrammarMatcher: a StackEngine with a current state, checkpoints and
// occasional compaction (stale nodes of consumed bytes are dropped).
#include "engine/grammar_matcher.h"

#include "core/error.h"

namespace kiln::engine {

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar)
    : grammar_(std::move(grammar)), engine_(grammar_.get()) {
  if (!grammar_) throw kiln::Error("grammar matcher needs a grammar");
  reset();
}

void GrammarMatcher::reset() {
  engine_.clear();
  detail::StepResult r = engine_.start();
  heads_begin_ = r.heads_begin;
  heads_end_ = r.heads_end;
  complete_ = r.complete;
  ++epoch_;
}

bool GrammarMatcher::accept_byte(uint8_t b) {
  const detail::StackMark before = engine_.mark();
  detail::StepResult r = engine_.advance(heads_begin_, heads_end_, b);
  if (!r.alive()) {
    engine_.rewind(before);
    return false;
  }
  heads_begin_ = r.heads_begin;
  heads_end_ = r.heads_end;
  complete_ = r.complete;
  maybe_compact();
  return true;
}

bool GrammarMatcher::accept(std::string_view bytes) {
  const Checkpoint cp = checkpoint();
  for (char c : bytes) {
    detail::StepResult r = engine_.advance(heads_begin_, heads_end_, static_cast<uint8_t>(c));
    if (!r.alive()) {
      rewind(cp);
      return false;
    }
    heads_begin_ = r.heads_begin;
    heads_end_ = r.heads_end;
    complete_ = r.complete;
  }
  maybe_compact();
  return true;
}

bool GrammarMatcher::can_accept(std::string_view bytes) {
  const Checkpoint cp = checkpoint();
  bool ok = true;
  for (char c : bytes) {
    detail::StepResult r = engine_.advance(heads_begin_, heads_end_, static_cast<uint8_t>(c));
    if (!r.alive()) {
      ok = false;
      break;
    }
    heads_begin_ = r.heads_begin;
    heads_end_ = r.heads_end;
  }
  rewind(cp);
  return ok;
}

void GrammarMatcher::rewind(const Checkpoint& cp) {
  if (cp.epoch != epoch_ || cp.mark.nodes > engine_.mark().nodes || cp.mark.heads > engine_.mark().heads)
    throw kiln::Error("grammar matcher checkpoint is stale (taken before a compaction or reset)");
  engine_.rewind(cp.mark);
  heads_begin_ = cp.heads_begin;
  heads_end_ = cp.heads_end;
  complete_ = cp.complete;
}

void GrammarMatcher::maybe_compact() {
  // Every consumed byte leaves its old stacks behind; drop them once they
  // outnumber the live ones by far. The live set is usually tiny, so this
  // is rare and cheap, and the threshold adapts to deep documents.
  if (engine_.node_count() < compact_at_) return;
  heads_end_ = engine_.compact(heads_begin_, heads_end_);
  heads_begin_ = 0;
  ++epoch_;
  compact_at_ = std::max<size_t>(4096, 4 * engine_.node_count());
}

}  // namespace kiln::engine
