// libFuzzer target for tokenizer encode/decode on arbitrary bytes (invalid
// UTF-8, control-token text, long runs). Uses the real vocabularies of the
// test models when they are present ($KILN_TEST_MODELS, default
// ~/.cache/kiln/models: qwen-0.5b byte-level BPE, gemma-3-270m SentencePiece),
// else a small SentencePiece vocabulary with byte fallback. Checked: every id
// is in range, decode never fails, StreamDecoder agrees with decode(), and a
// byte-level BPE round-trips valid UTF-8 text exactly.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

using kiln::tok::Tokenizer;

void check(bool ok) {
  if (!ok) std::abort();
}

Tokenizer small_spm() {
  kiln::tok::VocabSpec spec;
  spec.algorithm = kiln::tok::Algorithm::SentencePiece;
  auto add = [&](std::string text, float score, kiln::tok::TokenType type) {
    spec.tokens.push_back(std::move(text));
    spec.scores.push_back(score);
    spec.types.push_back(type);
  };
  add("<unk>", 0, kiln::tok::TokenType::Unknown);
  add("<s>", 0, kiln::tok::TokenType::Control);
  add("</s>", 0, kiln::tok::TokenType::Control);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    add(name, 0, kiln::tok::TokenType::Byte);
  }
  for (const char* piece : {"\xe2\x96\x81", "a", "b", "ab", "\xe2\x96\x81" "a", "\xe2\x96\x81" "ab", "ba"})
    add(piece, -static_cast<float>(spec.tokens.size()), kiln::tok::TokenType::Normal);
  spec.add_space_prefix = true;
  spec.add_bos = true;
  spec.unk = 0, spec.bos = 1, spec.eos = 2;
  return Tokenizer::from_spec(std::move(spec));
}

std::vector<Tokenizer> load() {
  std::vector<Tokenizer> out;
  const char* env = std::getenv("KILN_TEST_MODELS");
  const char* home = std::getenv("HOME");
  const std::filesystem::path dir = env ? env : std::string(home ? home : "") + "/.cache/kiln/models";
  for (const char* name : {"qwen-0.5b.gguf", "gemma-3-270m-q4_k_m.gguf"}) {
    if (!std::filesystem::exists(dir / name)) continue;
    out.push_back(Tokenizer::from_gguf(kiln::gguf::File::open(dir / name)));
    std::fprintf(stderr, "fuzz_tokenizer: using %s\n", (dir / name).c_str());
  }
  out.push_back(small_spm());
  return out;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = kiln::tok::utf8::valid_sequence_length(s.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void exercise(const Tokenizer& tok, std::string_view text, bool parse_special) {
  const auto ids = tok.encode(text, /*add_special=*/true, parse_special);
  for (const int32_t id : ids) check(id >= 0 && static_cast<size_t>(id) < tok.size());
  const std::string decoded = tok.decode(ids);
  check(valid_utf8(decoded));
  kiln::tok::StreamDecoder stream(tok);
  std::string streamed;
  for (const int32_t id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  check(streamed == decoded);
  if (tok.algorithm() == kiln::tok::Algorithm::ByteLevelBpe && !parse_special && valid_utf8(text)) {
    const auto plain = tok.encode(text, /*add_special=*/false, false);
    check(tok.decode(plain) == text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<Tokenizer> tokenizers = load();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const Tokenizer& tok : tokenizers) {
    try {
      exercise(tok, text, false);
      exercise(tok, text, true);
    } catch (const kiln::Error&) {
    }
  }
  return 0;
}
