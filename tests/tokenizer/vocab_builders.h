#pragma once
// Small hand-built vocabularies for the unit tests.
#include <cstdio>
#include <string>

#include "tokenizer/tokenizer.h"

namespace kiln::tok::testing {

// SentencePiece-style: <unk>, <s>, </s>, the 256 byte tokens, then the given
// normal pieces (with scores) and added tokens.
struct SpmBuilder {
  VocabSpec spec;
  SpmBuilder() {
    spec.algorithm = Algorithm::SentencePiece;
    add("<unk>", 0, TokenType::Unknown);
    add("<s>", 0, TokenType::Control);
    add("</s>", 0, TokenType::Control);
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      add(name, 0, TokenType::Byte);
    }
    spec.unk = 0, spec.bos = 1, spec.eos = 2;
  }
  int32_t add(std::string text, float score = 0, TokenType type = TokenType::Normal) {
    spec.tokens.push_back(std::move(text));
    spec.scores.push_back(score);
    spec.types.push_back(type);
    return static_cast<int32_t>(spec.tokens.size() - 1);
  }
  static int32_t byte_id(unsigned char b) { return 3 + b; }
  Tokenizer build() const { return Tokenizer::from_spec(spec); }
};

// Byte-level BPE: the 256 single-byte tokens in GPT-2's alphabet (ids 0..255
// in byte order), then merges added with merge(), which also adds the result.
struct BpeBuilder {
  VocabSpec spec;
  explicit BpeBuilder(std::string pre = "gpt2") {
    spec.algorithm = Algorithm::ByteLevelBpe;
    spec.pre = std::move(pre);
    for (int b = 0; b < 256; ++b) spec.tokens.push_back(spell(std::string(1, static_cast<char>(b))));
    spec.types.assign(256, TokenType::Normal);
  }
  // The GPT-2 spelling of raw bytes (printable ASCII spells itself; space is "Ġ").
  static std::string spell(const std::string& bytes) {
    std::string s;
    for (unsigned char b : bytes) {
      uint32_t cp = b;
      if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
        uint32_t next = 256;
        for (uint32_t x = 0; x < b; ++x)
          if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE)) ++next;
        cp = next;
      }
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
    }
    return s;
  }
  int32_t add(std::string raw, TokenType type = TokenType::Normal) {
    spec.tokens.push_back(type == TokenType::Normal ? spell(raw) : raw);
    spec.types.push_back(type);
    return static_cast<int32_t>(spec.tokens.size() - 1);
  }
  int32_t merge(const std::string& left, const std::string& right) {
    spec.merges.push_back(spell(left) + " " + spell(right));
    return add(left + right);
  }
  Tokenizer build() const { return Tokenizer::from_spec(spec); }
};

}  // namespace kiln::tok::testing
