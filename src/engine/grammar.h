#pragma once
// A context-free grammar over bytes, the form every structured-output
// constraint is compiled to (GBNF text, JSON schemas).
//
// Why bytes and not characters: the token mask walks a trie of token byte
// strings, and tokens split UTF-8 characters freely. Character classes over
// code points ([^"\\], [α-ω], .) are therefore compiled into alternatives of
// UTF-8 byte sequences when the grammar is built, so the matcher only ever
// tests one byte against a 256-bit set and never tracks partial characters.
//
// Layout (flat, for the matcher's hot loop): every alternative of every rule
// is a run of symbols in `symbols` ending with an End symbol. A Terminal
// matches one byte out of a ByteSet; a Rule symbol expands another rule.
// Repetition (*, +, ?, {m,n}) and groups are desugared into helper rules by
// the builder, as llama.cpp's GBNF parser does.
//
// build() checks what would make matching ill-defined or slow to fail: rules
// used but never defined, rules that can match no string at all, and left
// recursion (which a top-down matcher cannot expand).
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::engine {

struct ByteSet {
  std::array<uint64_t, 4> words{};

  bool has(uint8_t b) const { return (words[b >> 6] >> (b & 63)) & 1; }
  void set(uint8_t b) { words[b >> 6] |= uint64_t{1} << (b & 63); }
  void set_range(uint8_t lo, uint8_t hi) {
    for (unsigned b = lo; b <= hi; ++b) set(static_cast<uint8_t>(b));
  }
  bool empty() const { return (words[0] | words[1] | words[2] | words[3]) == 0; }
  ByteSet& operator|=(const ByteSet& o) {
    for (int i = 0; i < 4; ++i) words[i] |= o.words[i];
    return *this;
  }
  bool operator==(const ByteSet&) const = default;
};

enum class SymbolKind : uint8_t { End, Terminal, Rule };

struct Symbol {
  SymbolKind kind = SymbolKind::End;
  uint32_t index = 0;  // Terminal: index into terminals; Rule: rule id
};

// A code point range [lo, hi] for character classes.
struct CodepointRange {
  uint32_t lo, hi;
};

class Grammar {
 public:
  // Parses GBNF text (llama.cpp's syntax; grammar_parser.cpp). Errors name
  // the line and column. `root` names the start rule.
  static std::shared_ptr<const Grammar> parse(std::string_view gbnf, std::string_view root = "root");

  uint32_t root() const { return root_; }
  size_t rule_count() const { return alt_begin_.size() - 1; }
  const std::string& rule_name(uint32_t rule) const { return names_[rule]; }
  std::pair<const uint32_t*, const uint32_t*> alternatives(uint32_t rule) const {
    return {alt_starts_.data() + alt_begin_[rule], alt_starts_.data() + alt_begin_[rule + 1]};
  }
  const Symbol& symbol(uint32_t pos) const { return symbols_[pos]; }
  const ByteSet& terminal(uint32_t index) const { return terminals_[index]; }
  // True when the symbols from `pos` to the end of its alternative can all
  // match the empty string.
  bool nullable_from(uint32_t pos) const { return nullable_from_[pos] & 1; }
  // True when the symbols from `pos` to the end of its alternative are all
  // terminals (e.g. the continuation bytes of a UTF-8 character).
  bool terminals_only_from(uint32_t pos) const { return nullable_from_[pos] & 2; }
  size_t symbol_count() const { return symbols_.size(); }

  // Readable GBNF-like dump of the compiled (byte-level) rules, for debugging.
  std::string dump() const;

 private:
  friend class GrammarBuilder;
  std::vector<Symbol> symbols_;
  std::vector<uint32_t> alt_starts_;  // symbol position of each alternative
  std::vector<uint32_t> alt_begin_;   // rule r's alternatives: alt_starts_[alt_begin_[r] .. alt_begin_[r+1])
  std::vector<ByteSet> terminals_;
  std::vector<uint8_t> nullable_from_;  // bit 0: nullable_from, bit 1: terminals_only_from
  std::vector<std::string> names_;
  uint32_t root_ = 0;
};

// Assembles a Grammar rule by rule. Rules may be referenced before they are
// defined; build() fails if one never is.
class GrammarBuilder {
 public:
  using Sequence = std::vector<Symbol>;

  // The id of the rule called `name`, declaring it if new.
  uint32_t rule(std::string_view name);
  // A new rule named after `base` ("base_3") that no GBNF name can clash with.
  uint32_t fresh_rule(std::string_view base);
  bool is_defined(uint32_t rule) const { return defined_[rule]; }
  const std::string& name(uint32_t rule) const { return names_[rule]; }
  // Throws kiln::Error if the rule already has a definition.
  void define(uint32_t rule, std::vector<Sequence> alternatives);

  Symbol terminal(const ByteSet& set);
  Symbol byte(uint8_t b);
  Symbol ref(uint32_t rule) const { return {SymbolKind::Rule, rule}; }
  // The bytes of `text`, one terminal each.
  void append_literal(Sequence& seq, std::string_view text);
  // One character out of a set of code points (negated: out of its
  // complement), as UTF-8 bytes. Surrogates never match. Throws kiln::Error
  // when the set is empty.
  Symbol codepoint_class(std::vector<CodepointRange> ranges, bool negated);
  // `item` repeated min..max times (max < 0: unbounded).
  void append_repeat(Sequence& seq, const Sequence& item, int min, int max, std::string_view base);
  // A single symbol standing for `seq` (the symbol itself if seq has one).
  Symbol group(const Sequence& seq, std::string_view base);

  std::shared_ptr<const Grammar> build(std::string_view root) const;

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<Sequence>> rules_;
  std::vector<bool> defined_;
  std::vector<ByteSet> terminals_;
  std::vector<std::pair<std::string, Symbol>> class_cache_;
  uint32_t fresh_counter_ = 0;
};

// UTF-8 byte sequences matching exactly one code point of the given ranges
// (sorted, disjoint, surrogates removed): each sequence is one ByteSet per
// byte (grammar_utf8.cpp).
std::vector<std::vector<ByteSet>> utf8_sequences(const std::vector<CodepointRange>& ranges);

}  // namespace kiln::engine
