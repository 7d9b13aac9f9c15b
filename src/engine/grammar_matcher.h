#pragma once
// Incremental recognizer for a Grammar over bytes.
//
// A matcher only ever holds a valid prefix: accept() refuses (returns false,
// state unchanged) a byte or byte string that no sentence of the grammar
// continues with. is_complete() says the input so far is itself a sentence
// (end of generation may follow); can_continue() that more bytes may follow.
//
// Cheap to copy and to rewind: the state is two arrays of small integers
// (see grammar_stacks.h). A checkpoint is valid until the matcher compacts
// its arrays, which accept() does when they have grown past a threshold; a
// rewind to a stale checkpoint throws kiln::Error instead of corrupting the
// state. After warm-up (arrays at their working size), accepting bytes and
// checkpoint/rewind allocate nothing.
#include <cstdint>
#include <memory>
#include <string_view>

#include "engine/grammar.h"
#include "engine/grammar_stacks.h"

namespace kiln::engine {

class GrammarMatcher {
 public:
  struct Checkpoint {
    detail::StackMark mark;
    uint32_t heads_begin = 0, heads_end = 0;
    bool complete = false;
    uint64_t epoch = 0;
  };

  explicit GrammarMatcher(std::shared_ptr<const Grammar> grammar);

  bool accept_byte(uint8_t b);
  // All or nothing: on false the state is as before the call.
  bool accept(std::string_view bytes);
  // Whether accept(bytes) would succeed, without changing the state.
  bool can_accept(std::string_view bytes);

  bool is_complete() const { return complete_; }
  bool can_continue() const { return heads_end_ > heads_begin_; }
  // The bytes accept_byte() would take now.
  ByteSet next_bytes() const { return engine_.next_bytes(heads_begin_, heads_end_); }

  Checkpoint checkpoint() const { return {engine_.mark(), heads_begin_, heads_end_, complete_, epoch_}; }
  void rewind(const Checkpoint& cp);
  // Back to the empty input.
  void reset();

  const Grammar& grammar() const { return *grammar_; }
  // Current stack count and stored node count (for tests and metrics).
  size_t stack_count() const { return heads_end_ - heads_begin_; }
  size_t node_count() const { return engine_.node_count(); }

 private:
  friend class TokenMasker;
  void maybe_compact();

  std::shared_ptr<const Grammar> grammar_;
  detail::StackEngine engine_;
  uint32_t heads_begin_ = 0, heads_end_ = 0;
  bool complete_ = false;
  uint64_t epoch_ = 0;
  size_t compact_at_ = 4096;
};

}  // namespace kiln::engine
