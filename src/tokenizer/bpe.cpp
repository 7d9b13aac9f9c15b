// Byte-level BPE (tokenizer.ggml.model = "gpt2"): GPT-2/Llama 3/Qwen2 style.
//
// The pre-tokenizer cuts the fragment into pieces; each piece starts as one
// symbol per byte (the token for that byte's GPT-2 character) and adjacent
// symbols merge by the rank of their pair in tokenizer.ggml.merges, lowest
// rank first, leftmost on ties (HF `tokenizers`' BPE::merge_word).
#include <array>
#include <vector>

#include "tokenizer/merge_queue.h"
#include "tokenizer/vocab.h"

namespace kiln::tok {

const std::array<uint32_t, 256>& byte_to_code_point() {
  // Printable Latin-1 bytes map to themselves; the other 68 bytes map to
  // U+0100.. in byte order, so every byte has a visible, distinct character.
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      t[b] = printable ? b : next++;
    }
    return t;
  }();
  return table;
}

int byte_of_code_point(uint32_t cp) {
  static const std::array<int16_t, 512> inverse = [] {
    std::array<int16_t, 512> inv{};
    inv.fill(-1);
    const auto& fwd = byte_to_code_point();
    for (int b = 0; b < 256; ++b) inv[fwd[b]] = static_cast<int16_t>(b);
    return inv;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

namespace {

void encode_piece(const Tokenizer::Impl& v, std::string_view piece, std::vector<int32_t>& out) {
  if (v.ignore_merges) {
    const int32_t whole = v.mergeable.find(piece);
    if (whole >= 0) {
      out.push_back(whole);
      return;
    }
  }
  if (piece.size() == 1) {
    out.push_back(v.byte_token[static_cast<unsigned char>(piece[0])]);
    return;
  }
  std::vector<Symbol> symbols(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) {
    const int32_t index = static_cast<int32_t>(i);
    symbols[i] = Symbol{static_cast<uint32_t>(i), 1, index - 1, index + 1,
                        v.byte_token[static_cast<unsigned char>(piece[i])]};
  }
  symbols.back().next = -1;
  run_merges(symbols, [&](const Symbol& l, const Symbol& r, double& priority, int32_t& result) {
    const PairIndex::Entry* e = v.merges.find(l.id, r.id);
    if (e == nullptr) return false;
    priority = e->rank;
    result = e->result;
    return true;
  });
  for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

}  // namespace

void bpe_encode(const Tokenizer::Impl& v, std::string_view text, std::vector<int32_t>& out) {
  std::vector<std::string_view> pieces;
  v.pretokenizer->split(text, pieces);
  for (std::string_view piece : pieces) encode_piece(v, piece, out);
}

}  // namespace kiln::tok
