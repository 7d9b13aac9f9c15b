#pragma once
// The built form of a vocabulary: what encode/decode read. Internal to the
// tokenizer library; the public face is tokenizer.h.
#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/pretokenize.h"
#include "tokenizer/special.h"
#include "tokenizer/text_index.h"
#include "tokenizer/tokenizer.h"

namespace kiln::tok {

struct Tokenizer::Impl {
  Algorithm algorithm = Algorithm::SentencePiece;
  std::string pre;
  bool add_bos = false, add_eos = false, add_space_prefix = false;
  bool ignore_merges = false;  // byte-level BPE: a piece that is a token is kept whole
  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;

  // Token texts as stored and the bytes each token decodes to, in two blobs
  // (offsets[i]..offsets[i+1]) so a 262k vocabulary is two allocations.
  std::string text_blob, piece_blob;
  std::vector<uint32_t> text_offsets, piece_offsets;
  std::vector<float> scores;
  // SentencePiece merge order, lower first: -score for NORMAL pieces, and
  // ahead of all of them the respelled whitespace pieces (see vocab.cpp).
  std::vector<double> merge_priority;
  std::string respelled_blob;  // "▁▁..." keys of those pieces in `mergeable`
  std::vector<TokenType> types;
  std::vector<bool> eog;

  TextIndex by_text;    // stored text -> id (any type)
  TextIndex mergeable;  // SentencePiece: NORMAL text -> id; byte-level: NORMAL bytes -> id
  PairIndex merges;     // byte-level BPE: (left, right) -> (rank, result)
  std::array<int32_t, 256> byte_token{};  // <0xXX> (SentencePiece) or the single-byte token
  SpecialMatcher specials;
  std::unique_ptr<PreTokenizer> pretokenizer;  // byte-level BPE only

  size_t size() const { return types.size(); }
  std::string_view text(int32_t id) const {
    return std::string_view(text_blob).substr(text_offsets[id], text_offsets[id + 1] - text_offsets[id]);
  }
  std::string_view piece(int32_t id) const {
    return std::string_view(piece_blob).substr(piece_offsets[id], piece_offsets[id + 1] - piece_offsets[id]);
  }
  bool is_control(int32_t id) const {
    return types[id] == TokenType::Control || types[id] == TokenType::Unknown;
  }
};

// Builds the Impl from a spec; throws kiln::Error naming what is inconsistent.
std::shared_ptr<const Tokenizer::Impl> build_vocab(VocabSpec spec);

// The two algorithms, each encoding one plain-text fragment (no added tokens
// inside). at_start: the fragment begins the input (SentencePiece's prefix).
void spm_encode(const Tokenizer::Impl& v, std::string_view text, bool at_start, std::vector<int32_t>& out);
void bpe_encode(const Tokenizer::Impl& v, std::string_view text, std::vector<int32_t>& out);

// GPT-2's reversible byte <-> printable-character mapping.
const std::array<uint32_t, 256>& byte_to_code_point();
// Inverse: code point -> byte, or -1 for characters outside the mapping.
int byte_of_code_point(uint32_t cp);

}  // namespace kiln::tok
