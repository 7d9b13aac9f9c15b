// SentencePiece-style BPE (tokenizer.ggml.model = "llama").
//
// Spaces become "▁" (U+2581); with add_space_prefix the input's first fragment
// gets a leading "▁". The fragment is cut into characters, then adjacent
// symbols whose concatenation is a NORMAL piece merge, highest score first,
// leftmost on ties (SentencePiece's bpe_model.cc). Characters left that are no
// piece become their UTF-8 bytes as <0xXX> tokens, or <unk> without them.
// No whitespace collapsing or stripping happens: Gemma relies on runs of
// spaces and newlines reaching its user-defined whitespace tokens intact
// (newline and tab runs are cut out as added tokens; space runs merge here,
// see "respelled whitespace pieces" in vocab.cpp).
#include <string>

#include "tokenizer/merge_queue.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace kiln::tok {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 "▁"

std::string escape_spaces(std::string_view text, bool prefix) {
  std::string s;
  s.reserve(text.size() + text.size() / 4 + 3);
  if (prefix) s.append(kSpaceMarker);
  for (char c : text) {
    if (c == ' ') s.append(kSpaceMarker);
    else s.push_back(c);
  }
  return s;
}

void emit_bytes(const Tokenizer::Impl& v, std::string_view bytes, std::vector<int32_t>& out) {
  for (unsigned char b : bytes) {
    const int32_t id = v.byte_token[b];
    if (id >= 0) out.push_back(id);
    else if (v.unk >= 0) out.push_back(v.unk);
  }
}

}  // namespace

void spm_encode(const Tokenizer::Impl& v, std::string_view fragment, bool at_start,
                std::vector<int32_t>& out) {
  if (fragment.empty()) return;
  const std::string text = escape_spaces(fragment, at_start && v.add_space_prefix);
  const std::string_view view(text);

  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8::char_length(view.substr(i));
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back(Symbol{static_cast<uint32_t>(i), static_cast<uint32_t>(n), index - 1, index + 1,
                             v.mergeable.find(view.substr(i, n))});
    i += n;
  }
  symbols.back().next = -1;

  run_merges(symbols, [&](const Symbol& l, const Symbol& r, double& priority, int32_t& result) {
    const int32_t id = v.mergeable.find(view.substr(l.start, l.len + r.len));
    if (id < 0) return false;
    priority = v.merge_priority[id];
    result = id;
    return true;
  });

  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    if (s.id >= 0) out.push_back(s.id);
    else emit_bytes(v, view.substr(s.start, s.len), out);
  }
}

}  // namespace kiln::tok
