// GrammarBuilder: rules, desugaring of repetition, and the checks build()
// makes before a grammar is handed to a matcher.
#include "engine/grammar.h"

#include <algorithm>
#include <functional>

#include "core/error.h"

namespace kiln::engine {

uint32_t GrammarBuilder::rule(std::string_view name) {
  for (uint32_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return i;
  names_.emplace_back(name);
  rules_.emplace_back();
  defined_.push_back(false);
  return static_cast<uint32_t>(names_.size() - 1);
}

uint32_t GrammarBuilder::fresh_rule(std::string_view base) {
  // GBNF names cannot contain '#', so a generated name never clashes.
  std::string name = std::string(base) + "#" + std::to_string(++fresh_counter_);
  names_.push_back(std::move(name));
  rules_.emplace_back();
  defined_.push_back(false);
  return static_cast<uint32_t>(names_.size() - 1);
}

void GrammarBuilder::define(uint32_t rule, std::vector<Sequence> alternatives) {
  if (defined_[rule]) throw kiln::Error("grammar rule '" + names_[rule] + "' is defined twice");
  if (alternatives.empty()) alternatives.emplace_back();
  rules_[rule] = std::move(alternatives);
  defined_[rule] = true;
}

Symbol GrammarBuilder::terminal(const ByteSet& set) {
  for (uint32_t i = 0; i < terminals_.size(); ++i)
    if (terminals_[i] == set) return {SymbolKind::Terminal, i};
  terminals_.push_back(set);
  return {SymbolKind::Terminal, static_cast<uint32_t>(terminals_.size() - 1)};
}

Symbol GrammarBuilder::byte(uint8_t b) {
  ByteSet s;
  s.set(b);
  return terminal(s);
}

void GrammarBuilder::append_literal(Sequence& seq, std::string_view text) {
  for (char c : text) seq.push_back(byte(static_cast<uint8_t>(c)));
}

Symbol GrammarBuilder::codepoint_class(std::vector<CodepointRange> ranges, bool negated) {
  // Normalize: sort, merge, cut out surrogates, complement if negated.
  std::sort(ranges.begin(), ranges.end(), [](auto a, auto b) { return a.lo < b.lo; });
  std::vector<CodepointRange> merged;
  for (auto r : ranges) {
    if (r.lo > r.hi) continue;
    if (!merged.empty() && r.lo <= merged.back().hi + 1) merged.back().hi = std::max(merged.back().hi, r.hi);
    else merged.push_back(r);
  }
  if (negated) {
    std::vector<CodepointRange> comp;
    uint32_t next = 0;
    for (auto r : merged) {
      if (r.lo > next) comp.push_back({next, r.lo - 1});
      next = r.hi + 1;
    }
    if (next <= 0x10FFFF) comp.push_back({next, 0x10FFFF});
    merged = std::move(comp);
  }
  std::vector<CodepointRange> valid;
  for (auto r : merged) {
    if (r.hi > 0x10FFFF) r.hi = 0x10FFFF;
    if (r.lo > r.hi) continue;
    if (r.lo < 0xD800 && r.hi >= 0xD800) {
      valid.push_back({r.lo, 0xD7FF});
      if (r.hi > 0xDFFF) valid.push_back({0xE000, r.hi});
    } else if (r.lo >= 0xD800 && r.lo <= 0xDFFF) {
      if (r.hi > 0xDFFF) valid.push_back({0xE000, r.hi});
    } else {
      valid.push_back(r);
    }
  }
  if (valid.empty()) throw kiln::Error("character class matches no character");

  std::string key;
  for (auto r : valid) key += std::to_string(r.lo) + "-" + std::to_string(r.hi) + ",";
  for (auto& [k, sym] : class_cache_)
    if (k == key) return sym;

  std::vector<std::vector<ByteSet>> seqs = utf8_sequences(valid);
  Symbol result;
  if (seqs.size() == 1 && seqs[0].size() == 1) {
    result = terminal(seqs[0][0]);
  } else {
    uint32_t r = fresh_rule("class");
    std::vector<Sequence> alts;
    for (auto& s : seqs) {
      Sequence seq;
      for (auto& set : s) seq.push_back(terminal(set));
      alts.push_back(std::move(seq));
    }
    define(r, std::move(alts));
    result = ref(r);
  }
  class_cache_.emplace_back(std::move(key), result);
  return result;
}

Symbol GrammarBuilder::group(const Sequence& seq, std::string_view base) {
  if (seq.size() == 1) return seq[0];
  uint32_t r = fresh_rule(base);
  define(r, {seq});
  return ref(r);
}

void GrammarBuilder::append_repeat(Sequence& seq, const Sequence& item, int min, int max, std::string_view base) {
  if (min < 0 || (max >= 0 && max < min)) throw kiln::Error("grammar repetition has bad bounds");
  constexpr int kMaxRepeat = 100000;  // {m,n} unrolls into helper rules
  if (min > kMaxRepeat || max > kMaxRepeat)
    throw kiln::Error("grammar repetition count over " + std::to_string(kMaxRepeat));
  Symbol x = group(item, base);
  for (int i = 0; i < min; ++i) seq.push_back(x);
  if (max < 0) {
    // star ::= x star | ""  (right recursion: the matcher's tail call keeps
    // its stacks flat however long the run)
    uint32_t star = fresh_rule(base);
    define(star, {{x, ref(star)}, {}});
    seq.push_back(ref(star));
    return;
  }
  if (max == min) return;
  // opt_k ::= x opt_{k-1} | "" ; opt_1 ::= x | ""
  uint32_t prev = fresh_rule(base);
  define(prev, {{x}, {}});
  for (int k = 2; k <= max - min; ++k) {
    uint32_t r = fresh_rule(base);
    define(r, {{x, ref(prev)}, {}});
    prev = r;
  }
  seq.push_back(ref(prev));
}

std::shared_ptr<const Grammar> GrammarBuilder::build(std::string_view root_name) const {
  const size_t n = names_.size();
  for (size_t r = 0; r < n; ++r)
    if (!defined_[r]) throw kiln::Error("grammar rule '" + names_[r] + "' is used but never defined");
  auto root_it = std::find(names_.begin(), names_.end(), root_name);
  if (root_it == names_.end()) throw kiln::Error("grammar has no rule '" + std::string(root_name) + "'");

  auto g = std::make_shared<Grammar>();
  g->names_ = names_;
  g->terminals_ = terminals_;
  g->root_ = static_cast<uint32_t>(root_it - names_.begin());
  g->alt_begin_.push_back(0);
  for (size_t r = 0; r < n; ++r) {
    for (const Sequence& alt : rules_[r]) {
      g->alt_starts_.push_back(static_cast<uint32_t>(g->symbols_.size()));
      g->symbols_.insert(g->symbols_.end(), alt.begin(), alt.end());
      g->symbols_.push_back({SymbolKind::End, 0});
    }
    g->alt_begin_.push_back(static_cast<uint32_t>(g->alt_starts_.size()));
  }

  // Fixed points: which rules can match "" and which can match anything.
  auto fixpoint = [&](bool terminal_value) {
    std::vector<uint8_t> ok(n, 0);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (ok[r]) continue;
        for (const Sequence& alt : rules_[r]) {
          bool all = std::all_of(alt.begin(), alt.end(), [&](Symbol s) {
            return s.kind == SymbolKind::Terminal ? terminal_value : ok[s.index] != 0;
          });
          if (all) {
            ok[r] = 1;
            changed = true;
            break;
          }
        }
      }
    }
    return ok;
  };
  std::vector<uint8_t> nullable = fixpoint(false);
  std::vector<uint8_t> productive = fixpoint(true);

  // Only rules reachable from the root matter for the checks below.
  std::vector<uint8_t> reachable(n, 0);
  std::vector<uint32_t> todo{g->root_};
  reachable[g->root_] = 1;
  while (!todo.empty()) {
    uint32_t r = todo.back();
    todo.pop_back();
    for (const Sequence& alt : rules_[r])
      for (Symbol s : alt)
        if (s.kind == SymbolKind::Rule && !reachable[s.index]) {
          reachable[s.index] = 1;
          todo.push_back(s.index);
        }
  }
  for (size_t r = 0; r < n; ++r)
    if (reachable[r] && !productive[r])
      throw kiln::Error("grammar rule '" + names_[r] + "' can never match (every alternative recurses forever)");

  // Left recursion: r -> s when s can be the first thing r expands.
  std::vector<uint8_t> color(n, 0);  // 0 new, 1 on the path, 2 done
  std::vector<uint32_t> path;
  std::function<void(uint32_t)> dfs = [&](uint32_t r) {
    color[r] = 1;
    path.push_back(r);
    for (const Sequence& alt : rules_[r]) {
      for (Symbol s : alt) {
        if (s.kind == SymbolKind::Terminal) break;
        if (color[s.index] == 1) {
          std::string cycle;
          auto it = std::find(path.begin(), path.end(), s.index);
          for (; it != path.end(); ++it) cycle += names_[*it] + " -> ";
          throw kiln::Error("grammar is left-recursive: " + cycle + names_[s.index]);
        }
        if (color[s.index] == 0) dfs(s.index);
        if (!nullable[s.index]) break;
      }
    }
    path.pop_back();
    color[r] = 2;
  };
  for (uint32_t r = 0; r < n; ++r)
    if (reachable[r] && color[r] == 0) dfs(r);

  g->nullable_from_.assign(g->symbols_.size(), 0);
  for (size_t pos = g->symbols_.size(); pos-- > 0;) {
    Symbol s = g->symbols_[pos];
    if (s.kind == SymbolKind::End) g->nullable_from_[pos] = 3;
    else if (s.kind == SymbolKind::Rule) g->nullable_from_[pos] = nullable[s.index] && (g->nullable_from_[pos + 1] & 1);
    else g->nullable_from_[pos] = g->nullable_from_[pos + 1] & 2;
  }
  return g;
}

std::string Grammar::dump() const {
  auto set_text = [](const ByteSet& s) {
    std::string out = "[";
    for (int b = 0; b < 256;) {
      if (!s.has(static_cast<uint8_t>(b))) {
        ++b;
        continue;
      }
      int e = b;
      while (e + 1 < 256 && s.has(static_cast<uint8_t>(e + 1))) ++e;
      char buf[16];
      snprintf(buf, sizeof buf, "\\x%02X", b);
      out += buf;
      if (e > b) {
        snprintf(buf, sizeof buf, "-\\x%02X", e);
        out += buf;
      }
      b = e + 1;
    }
    return out + "]";
  };
  std::string out;
  for (uint32_t r = 0; r < rule_count(); ++r) {
    out += names_[r] + " ::=";
    auto [b, e] = alternatives(r);
    for (auto it = b; it != e; ++it) {
      if (it != b) out += " |";
      for (uint32_t pos = *it; symbols_[pos].kind != SymbolKind::End; ++pos) {
        const Symbol& s = symbols_[pos];
        out += " " + (s.kind == SymbolKind::Rule ? names_[s.index] : set_text(terminals_[s.index]));
      }
      if (symbols_[*it].kind == SymbolKind::End) out += " \"\"";
    }
    out += "\n";
  }
  return out;
}

}  // namespace kiln::engine
