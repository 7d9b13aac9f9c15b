#pragma once
// Tokenizers built from GGUF metadata (tokenizer.ggml.*).
//
// Two algorithms, chosen by `tokenizer.ggml.model`:
//   "llama" -> SentencePiece-style BPE: pieces with scores, the highest-score
//              adjacent pair merges first, "▁" stands for a space, characters
//              outside the vocabulary fall back to <0xXX> byte tokens.
//   "gpt2"  -> byte-level BPE: text is split by a pre-tokenizer regex chosen by
//              `tokenizer.ggml.pre`, each piece's bytes are merged by rank.
//
// Before either runs, added tokens are cut out of the text (leftmost-longest,
// as HF `tokenizers` does): USER_DEFINED tokens always, CONTROL/UNKNOWN tokens
// only when parse_special is on. BPE never produces a CONTROL, USER_DEFINED,
// UNUSED or BYTE token by merging.
//
// Deliberate choices (see tokenizer.cpp and pretokenize.cpp for the details):
//   - no Unicode normalization (NFC/NFKC) is applied, as llama.cpp and
//     transformers' GGUF loader do not apply it either;
//   - an unknown `tokenizer.ggml.pre` value is an error naming the value (as in
//     llama.cpp): a silently wrong split would change every token id;
//   - invalid UTF-8 input never throws: the bytes are encoded through byte
//     tokens (byte-level BPE) or <0xXX> fallback (SentencePiece);
//   - decode() returns valid UTF-8: bytes that do not form a character become
//     U+FFFD, one per maximal invalid subpart (as Rust's from_utf8_lossy).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::gguf {
class File;
}

namespace kiln::tok {

// Values of tokenizer.ggml.token_type (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

enum class Algorithm { SentencePiece, ByteLevelBpe };

// Everything a tokenizer is built from. from_gguf() fills it from metadata;
// tests fill it by hand.
struct VocabSpec {
  Algorithm algorithm = Algorithm::SentencePiece;
  std::vector<std::string> tokens;
  std::vector<float> scores;         // SentencePiece; empty -> all 0
  std::vector<TokenType> types;      // empty -> all Normal
  std::vector<std::string> merges;   // byte-level BPE: "left right", best first
  std::string pre = "default";       // byte-level BPE pre-tokenizer name
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;     // SentencePiece: prepend "▁" to the text
  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
};

class Tokenizer {
 public:
  // Reads tokenizer.ggml.* from a parsed GGUF file. Throws kiln::Error naming
  // the key that is missing or malformed.
  static Tokenizer from_gguf(const gguf::File& file);
  // Validates the spec (sizes agree, ids in range, merges name real tokens)
  // and throws kiln::Error naming what is wrong.
  static Tokenizer from_spec(VocabSpec spec);

  // add_special: BOS/EOS as the vocabulary's add_bos/add_eos flags say.
  // parse_special: match CONTROL tokens written in the text ("<|im_start|>").
  std::vector<int32_t> encode(std::string_view text, bool add_special,
                              bool parse_special) const;
  // Concatenated pieces as valid UTF-8. skip_special drops CONTROL and UNKNOWN
  // tokens. With add_space_prefix, one leading space is removed (HF's Strip).
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;
  // The bytes a token stands for ("▁" already turned into a space, <0x41>
  // into "A", byte-level characters into their bytes); may be a partial
  // UTF-8 sequence. Throws kiln::Error for an id out of range.
  std::string_view piece(int32_t id) const;
  // The token's text as stored in the vocabulary.
  std::string_view token_text(int32_t id) const;
  // Exact vocabulary lookup by stored text; -1 if absent.
  int32_t token_id(std::string_view text) const;

  size_t size() const;
  Algorithm algorithm() const;
  TokenType type(int32_t id) const;
  float score(int32_t id) const;
  int32_t bos() const;
  int32_t eos() const;
  int32_t eot() const;
  int32_t unk() const;
  int32_t pad() const;
  bool add_bos() const;
  bool add_eos() const;
  bool add_space_prefix() const;
  const std::string& pre() const;
  // End of generation: eos, eot, eom, and control tokens whose text is a
  // well-known end marker (<|im_end|>, <end_of_turn>, <|endoftext|>, ...).
  bool is_eog(int32_t id) const;
  bool is_control(int32_t id) const;  // CONTROL or UNKNOWN

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
  friend class StreamDecoder;
};

// Turns generated tokens into text as they arrive: only complete UTF-8
// characters are returned; a partial multi-byte sequence waits for the next
// token. The concatenation of all push() results and flush() equals
// Tokenizer::decode() of the same ids.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  std::string push(int32_t id);
  // Returns what is still held (an incomplete sequence becomes U+FFFD) and
  // resets the decoder for a new sequence.
  std::string flush();

 private:
  std::shared_ptr<const Tokenizer::Impl> impl_;
  bool skip_special_;
  bool at_start_ = true;
  std::string pending_;
};

}  // namespace kiln::tok
