// Builds Tokenizer::Impl from a VocabSpec: validates it, stores texts and
// decoded pieces, and builds the lookup tables the encoders use.
#include <algorithm>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"

namespace kiln::tok {
namespace {

// "<0x41>" -> 0x41; -1 if the text is not a byte token's text.
int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(text[3]), lo = hex(text[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// SentencePiece pieces spell a space as "▁". Appends the piece to s.
void append_spm_piece(std::string& s, std::string_view text, TokenType type) {
  if (type == TokenType::Byte) {
    const int b = parse_byte_token(text);
    if (b >= 0) {
      s.push_back(static_cast<char>(b));
      return;
    }
  }
  if (type == TokenType::Control || type == TokenType::Unknown || text.find('\xE2') == std::string_view::npos) {
    s.append(text);
    return;
  }
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
      s.push_back(' ');
      i += 2;
    } else {
      s.push_back(text[i]);
    }
  }
}

// Byte-level BPE tokens spell bytes with GPT-2's characters; added tokens
// (CONTROL, USER_DEFINED) are stored as plain text. A character outside the
// 256-character alphabet is kept as its own UTF-8. Appends the piece to s.
void append_byte_level_piece(std::string& s, std::string_view text, TokenType type) {
  if (type == TokenType::Control || type == TokenType::UserDefined || type == TokenType::Unknown) {
    s.append(text);
    return;
  }
  for (size_t i = 0; i < text.size();) {
    const std::string_view rest = text.substr(i);
    const size_t n = utf8::char_length(rest);
    uint32_t cp = static_cast<unsigned char>(rest[0]);
    if (n == 2) cp = ((cp & 0x1F) << 6) | (static_cast<unsigned char>(rest[1]) & 0x3F);
    const int b = n <= 2 ? byte_of_code_point(cp) : -1;
    if (b >= 0) s.push_back(static_cast<char>(b));
    else s.append(rest.substr(0, n));
    i += n;
  }
}

bool is_end_marker(std::string_view text) {
  static constexpr std::string_view kMarkers[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
      "<EOT>", "_<EOT>", "<|eom_id|>", "<|return|>", "<|call|>",
      "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",  // DeepSeek
  };
  for (std::string_view m : kMarkers)
    if (text == m) return true;
  return false;
}

bool is_space_run(std::string_view text) {
  return !text.empty() && text.find_first_not_of(' ') == std::string_view::npos;
}

// Respelled whitespace pieces. llama.cpp's converter stores SentencePiece's
// user-defined "▁▁", "▁▁▁", ... pieces (Gemma's indentation tokens) with
// literal spaces and score -1000. In the source tokenizer they are "▁" pieces
// that outrank every normal piece, and HF tokenizes space runs by merging
// them (shorter runs first, then longer ones from those), not by matching
// them whole in the raw text. That gives different ids for runs longer than
// the longest such token (40 spaces: 16+24 rather than 31+9), so we do the
// same: such tokens are mergeable under their "▁" spelling, ordered by id
// ahead of all normal pieces, and are not matched as added tokens.
void prepare_respelled_whitespace(Tokenizer::Impl& v) {
  const size_t n = v.size();
  double best = 0;
  for (size_t i = 0; i < n; ++i)
    if (v.types[i] == TokenType::Normal) best = std::min(best, -static_cast<double>(v.scores[i]));
  v.merge_priority.assign(n, 0.0);
  size_t bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    if (v.types[i] == TokenType::Normal) {
      v.merge_priority[i] = -static_cast<double>(v.scores[i]);
    } else if (v.types[i] == TokenType::UserDefined && is_space_run(v.text(id))) {
      v.merge_priority[i] = best - 1.0 - static_cast<double>(n) + static_cast<double>(i);
      bytes += 3 * v.text(id).size();
    }
  }
  v.respelled_blob.reserve(bytes);  // the index keeps views into it: no reallocation
}

void index_respelled_whitespace(Tokenizer::Impl& v) {
  for (size_t i = 0; i < v.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    if (v.types[i] != TokenType::UserDefined || !is_space_run(v.text(id))) continue;
    const size_t start = v.respelled_blob.size();
    for (size_t k = 0; k < v.text(id).size(); ++k) v.respelled_blob += "\xE2\x96\x81";
    v.mergeable.insert(std::string_view(v.respelled_blob).substr(start), id);
  }
}

void check_id(int32_t id, size_t n, const char* what) {
  if (id < -1 || (id >= 0 && static_cast<size_t>(id) >= n))
    throw kiln::Error(std::string("tokenizer ") + what + " id " + std::to_string(id) +
                      " is outside the vocabulary of " + std::to_string(n) + " tokens");
}

void build_merges(Tokenizer::Impl& v, const std::vector<std::string>& merges) {
  v.merges.reserve(merges.size());
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& m = merges[rank];
    const size_t space = m.find(' ', 1);  // a merge half is never empty
    if (space == std::string::npos)
      throw kiln::Error("tokenizer merge " + std::to_string(rank) + " (\"" + m + "\") has no space");
    const std::string_view left = std::string_view(m).substr(0, space);
    const std::string_view right = std::string_view(m).substr(space + 1);
    const int32_t l = v.by_text.find(left), r = v.by_text.find(right);
    joined.assign(left).append(right);
    const int32_t result = v.by_text.find(joined);
    if (l < 0 || r < 0 || result < 0)
      throw kiln::Error("tokenizer merge " + std::to_string(rank) + " (\"" + m +
                        "\") names a token that is not in the vocabulary");
    v.merges.insert(l, r, {static_cast<int32_t>(rank), result});
  }
}

}  // namespace

std::shared_ptr<const Tokenizer::Impl> build_vocab(VocabSpec spec) {
  const size_t n = spec.tokens.size();
  if (n == 0) throw kiln::Error("tokenizer vocabulary is empty");
  if (n >= 0x7fffffff) throw kiln::Error("tokenizer vocabulary is too large");
  if (!spec.scores.empty() && spec.scores.size() != n)
    throw kiln::Error("tokenizer has " + std::to_string(spec.scores.size()) + " scores for " +
                      std::to_string(n) + " tokens");
  if (!spec.types.empty() && spec.types.size() != n)
    throw kiln::Error("tokenizer has " + std::to_string(spec.types.size()) + " token types for " +
                      std::to_string(n) + " tokens");
  for (auto [id, what] : {std::pair{spec.bos, "bos"}, {spec.eos, "eos"}, {spec.eot, "eot"},
                          {spec.eom, "eom"}, {spec.unk, "unknown"}, {spec.pad, "padding"}})
    check_id(id, n, what);

  auto v = std::make_shared<Tokenizer::Impl>();
  const bool spm = spec.algorithm == Algorithm::SentencePiece;
  v->algorithm = spec.algorithm;
  v->pre = spec.pre;
  v->add_bos = spec.add_bos;
  v->add_eos = spec.add_eos;
  v->add_space_prefix = spm && spec.add_space_prefix;
  v->bos = spec.bos, v->eos = spec.eos, v->eot = spec.eot, v->eom = spec.eom;
  v->unk = spec.unk, v->pad = spec.pad;
  v->scores = spec.scores.empty() ? std::vector<float>(n, 0.0f) : std::move(spec.scores);
  v->types = spec.types.empty() ? std::vector<TokenType>(n, TokenType::Normal) : std::move(spec.types);
  for (TokenType& t : v->types)  // unknown type values behave as NORMAL (llama.cpp does the same)
    if (static_cast<int32_t>(t) < 0 || static_cast<int32_t>(t) > 6 || t == TokenType::Undefined)
      t = TokenType::Normal;

  // Texts and pieces go into blobs first; the indexes point into the blobs,
  // which must not reallocate afterwards.
  size_t text_bytes = 0;
  for (const std::string& t : spec.tokens) text_bytes += t.size();
  v->text_blob.reserve(text_bytes);
  v->piece_blob.reserve(text_bytes);
  v->text_offsets.reserve(n + 1);
  v->piece_offsets.reserve(n + 1);
  v->text_offsets.push_back(0);
  v->piece_offsets.push_back(0);
  for (size_t i = 0; i < n; ++i) {
    v->text_blob += spec.tokens[i];
    v->text_offsets.push_back(static_cast<uint32_t>(v->text_blob.size()));
    if (spm) append_spm_piece(v->piece_blob, spec.tokens[i], v->types[i]);
    else append_byte_level_piece(v->piece_blob, spec.tokens[i], v->types[i]);
    v->piece_offsets.push_back(static_cast<uint32_t>(v->piece_blob.size()));
  }
  if (v->text_blob.size() > 0xffffffffu || v->piece_blob.size() > 0xffffffffu)
    throw kiln::Error("tokenizer vocabulary text exceeds 4 GiB");

  v->by_text.reserve(n);
  v->mergeable.reserve(n);
  v->byte_token.fill(-1);
  std::vector<SpecialMatcher::Candidate> specials;
  v->eog.assign(n, false);
  if (spm) prepare_respelled_whitespace(*v);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    const TokenType t = v->types[i];
    v->by_text.insert(v->text(id), id);
    if (t == TokenType::Normal) v->mergeable.insert(spm ? v->text(id) : v->piece(id), id);
    const bool respelled = spm && t == TokenType::UserDefined && is_space_run(v->text(id));
    if ((t == TokenType::Control || t == TokenType::Unknown || t == TokenType::UserDefined) && !respelled)
      specials.push_back({v->text(id), id, t != TokenType::UserDefined});
    if (spm && t == TokenType::Byte) {
      const int b = parse_byte_token(v->text(id));
      if (b >= 0 && v->byte_token[b] < 0) v->byte_token[b] = id;
    }
    if (t == TokenType::Control && is_end_marker(v->text(id))) v->eog[i] = true;
  }
  if (spm) index_respelled_whitespace(*v);
  for (int32_t id : {v->eos, v->eot, v->eom})
    if (id >= 0) v->eog[id] = true;
  v->specials.build(std::move(specials));

  if (spm) {
    if (v->unk < 0)
      for (int b = 0; b < 256; ++b)
        if (v->byte_token[b] < 0)
        {
          char name[8];
          std::snprintf(name, sizeof name, "<0x%02X>", b);
          throw kiln::Error(std::string("SentencePiece vocabulary has neither an unknown token nor the byte token ") + name);
        }
  } else {
    const PreTokenizerInfo info = pre_tokenizer_info(v->pre);
    v->ignore_merges = info.ignore_merges;
    v->pretokenizer = std::make_unique<PreTokenizer>(info.regex);
    for (int b = 0; b < 256; ++b) {
      const char c = static_cast<char>(b);
      v->byte_token[b] = v->mergeable.find(std::string_view(&c, 1));
      if (v->byte_token[b] < 0) v->byte_token[b] = v->unk;
      if (v->byte_token[b] < 0)
        throw kiln::Error("byte-level vocabulary has no token for byte " + std::to_string(b) +
                          " and no unknown token");
    }
    build_merges(*v, spec.merges);
  }
  return v;
}

}  // namespace kiln::tok
