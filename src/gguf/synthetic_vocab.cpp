#include "gguf/synthetic_vocab.h"

#include <array>
#include <cstdint>
#include <string_view>
#include <unordered_set>

#include "core/error.h"

namespace kiln::gguf {
namespace {

// A fixed stream: the vocabulary must be the same for every weight seed.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Index in [0, n), biased towards 0 (u^2): earlier tokens are shorter, so
  // preferring them keeps made-up tokens word-sized.
  size_t early_index(size_t n) {
    const double u = static_cast<double>(next() >> 11) * 0x1p-53;
    return static_cast<size_t>(u * u * static_cast<double>(n));
  }

 private:
  uint64_t state_;
};

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// GPT-2 byte-level alphabet: printable bytes stand for themselves, the other
// 68 bytes map to U+0100.. in byte order. Real vocabularies list the 256
// characters sorted by code point, which is what this returns.
std::vector<std::string> byte_level_alphabet() {
  std::vector<uint32_t> printable;
  std::vector<uint32_t> others;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool keep = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    (keep ? printable : others).push_back(b);
  }
  std::vector<std::string> out;
  for (uint32_t b : printable) append_utf8(out.emplace_back(), b);
  for (size_t i = 0; i < others.size(); ++i) append_utf8(out.emplace_back(), 0x100 + static_cast<uint32_t>(i));
  return out;
}

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<float> scores;   // SentencePiece only
  std::vector<std::string> merges;  // BPE only
};

void add(Vocab& v, std::string text, TokenType type, float score = 0.0f) {
  v.tokens.push_back(std::move(text));
  v.types.push_back(static_cast<int32_t>(type));
  v.scores.push_back(score);
}

// Made-up ordinary tokens: each is an existing token plus one letter, so every
// token is reachable by merging (BPE) or by joining pieces (SentencePiece).
// `pool` starts with tokens already in the vocabulary; `taken` holds every
// string in it. on_token(left, right, merged) is called `count` times.
template <typename OnToken>
void grow_tokens(std::vector<std::string> pool, size_t count, std::unordered_set<std::string>& taken,
                 uint64_t stream, OnToken on_token) {
  SplitMix64 rng(stream);
  size_t made = 0;
  size_t attempts = 0;
  while (made < count) {
    if (++attempts > count * 64 + 1000)
      throw Error("synthetic vocabulary: could not make " + std::to_string(count) + " distinct tokens");
    const std::string& left = pool[rng.early_index(pool.size())];
    const std::string right(1, static_cast<char>('a' + rng.next() % 26));
    std::string merged = left + right;
    if (!taken.insert(merged).second) continue;
    on_token(left, right, merged);
    pool.push_back(std::move(merged));
    ++made;
  }
}

// Byte-level BPE: 256 byte tokens, then one token per merge.
void byte_level_regular_tokens(Vocab& v, size_t n_regular) {
  std::unordered_set<std::string> taken;
  for (auto& b : byte_level_alphabet()) {
    taken.insert(b);
    add(v, std::move(b), TokenType::Normal);
  }
  // Word-initial tokens carry the space marker U+0120, as in real vocabularies.
  const std::string space = "\xc4\xa0";
  std::vector<std::string> pool;
  for (char c = 'a'; c <= 'z'; ++c) {
    const std::string letter(1, c);
    pool.push_back(letter);
    v.merges.push_back(space + " " + letter);
    add(v, space + letter, TokenType::Normal);
    taken.insert(space + letter);
    pool.push_back(space + letter);
  }
  grow_tokens(std::move(pool), n_regular - v.tokens.size(), taken, 0x6b696c6e,
              [&](const std::string& l, const std::string& r, const std::string& merged) {
                v.merges.push_back(l + " " + r);
                add(v, merged, TokenType::Normal);
              });
}

Vocab llama3_vocab(const Preset& p) {
  Vocab v;
  byte_level_regular_tokens(v, 128000);
  // Llama 3.1+ renamed a few reserved tokens; the llama3 RoPE scaling marks
  // those versions among the presets.
  const bool v31 = p.llama3_rope.has_value();
  int reserved = 0;
  auto reserved_token = [&] { return "<|reserved_special_token_" + std::to_string(reserved++) + "|>"; };
  for (int id = 128000; id < 128256; ++id) {
    std::string text;
    switch (id) {
      case 128000: text = "<|begin_of_text|>"; break;
      case 128001: text = "<|end_of_text|>"; break;
      case 128004: text = v31 ? "<|finetune_right_pad_id|>" : reserved_token(); break;
      case 128006: text = "<|start_header_id|>"; break;
      case 128007: text = "<|end_header_id|>"; break;
      case 128008: text = v31 ? "<|eom_id|>" : reserved_token(); break;
      case 128009: text = "<|eot_id|>"; break;
      case 128010: text = v31 ? "<|python_tag|>" : reserved_token(); break;
      default: text = reserved_token();
    }
    add(v, std::move(text), TokenType::Control);
  }
  return v;
}

Vocab qwen_vocab(const Preset& p) {
  Vocab v;
  byte_level_regular_tokens(v, 151643);  // 151387 merges, as the real files have
  constexpr std::array<std::string_view, 22> kSpecial = {
      "<|endoftext|>",  "<|im_start|>",    "<|im_end|>",       "<|object_ref_start|>", "<|object_ref_end|>",
      "<|box_start|>",  "<|box_end|>",     "<|quad_start|>",   "<|quad_end|>",         "<|vision_start|>",
      "<|vision_end|>", "<|vision_pad|>",  "<|image_pad|>",    "<|video_pad|>",        "<tool_call>",
      "</tool_call>",   "<|fim_prefix|>",  "<|fim_middle|>",   "<|fim_suffix|>",       "<|fim_pad|>",
      "<|repo_name|>",  "<|file_sep|>"};
  for (auto s : kSpecial) {
    // The tool-call tags are plain added tokens (not special) in Qwen's tokenizer.
    const bool user = s == "<tool_call>" || s == "</tool_call>";
    add(v, std::string(s), user ? TokenType::UserDefined : TokenType::Control);
  }
  if (p.vocab == VocabKind::Qwen3)
    for (std::string_view s : {"<tool_response>", "</tool_response>", "<think>", "</think>"})
      add(v, std::string(s), TokenType::UserDefined);
  // The embedding matrix is padded past the tokenizer; converters name the gap.
  while (v.tokens.size() < static_cast<size_t>(p.n_vocab))
    add(v, "[PAD" + std::to_string(v.tokens.size()) + "]", TokenType::Unused);
  return v;
}

// Gemma 3's SentencePiece layout (ids, types and scores as in the real file).
Vocab gemma3_vocab(const Preset& p) {
  Vocab v;
  constexpr float kSpecialScore = -1000.0f;
  for (std::string_view s : {"<pad>", "<eos>", "<bos>", "<unk>", "<mask>"})
    add(v, std::string(s), TokenType::Control, kSpecialScore);
  add(v, "[multimodal]", TokenType::UserDefined, kSpecialScore);
  for (int i = 0; i <= 98; ++i) add(v, "<unused" + std::to_string(i) + ">", TokenType::Control, kSpecialScore);
  add(v, "<start_of_turn>", TokenType::Control, kSpecialScore);  // 105
  add(v, "<end_of_turn>", TokenType::Control, kSpecialScore);    // 106
  for (int n = 1; n <= 31; ++n) add(v, std::string(n, '\n'), TokenType::UserDefined, kSpecialScore);
  for (int n = 2; n <= 31; ++n) add(v, std::string(n, ' '), TokenType::UserDefined, kSpecialScore);
  constexpr std::array<std::string_view, 35> kTags = {
      "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "h1", "h2", "h3", "h4",
      "h5", "h6", "blockquote", "strong", "em", "b", "i", "u", "s", "sub", "sup", "code",
      "a", "html", "body", "img", "span", "bbox", "ul", "li", "div", "iframe", "footer"};
  // The real list opens and closes tags in groups: table parts, headings,
  // inline styles, then the rest.
  auto tag_group = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) add(v, "<" + std::string(kTags[i]) + ">", TokenType::UserDefined, kSpecialScore);
    for (size_t i = from; i < to; ++i) add(v, "</" + std::string(kTags[i]) + ">", TokenType::UserDefined, kSpecialScore);
  };
  tag_group(0, 8);
  // Headings and blockquote open together, then close together.
  tag_group(8, 15);
  tag_group(15, 24);
  tag_group(24, 35);
  if (v.tokens.size() != 238) throw Error("gemma3 vocabulary layout: byte tokens must start at 238");
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b)
    add(v, std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">", TokenType::Byte, 0.0f);

  constexpr int64_t kFirstNormal = 494;
  constexpr int64_t kTailUserDefined = 255968;  // tab runs and image markers follow the pieces
  std::unordered_set<std::string> taken(v.tokens.begin(), v.tokens.end());
  auto add_piece = [&](std::string piece) {
    const float score = -static_cast<float>(static_cast<int64_t>(v.tokens.size()) - kFirstNormal);
    add(v, std::move(piece), TokenType::Normal, score);
  };
  // Every printable character and the word-start marker U+2581 as pieces of
  // their own, so any ASCII text tokenizes without byte fallback.
  const std::string word_start = "\xe2\x96\x81";
  add_piece(word_start);
  taken.insert(word_start);
  for (char c = '!'; c <= '~'; ++c) {
    if (taken.insert(std::string(1, c)).second) add_piece(std::string(1, c));
  }
  std::vector<std::string> pool;
  for (char c = 'a'; c <= 'z'; ++c) {
    pool.push_back(std::string(1, c));
    const std::string word = word_start + c;
    if (taken.insert(word).second) add_piece(word);
    pool.push_back(word);
  }
  const size_t remaining = static_cast<size_t>(kTailUserDefined) - v.tokens.size();
  grow_tokens(std::move(pool), remaining, taken, 0x67656d6d,
              [&](const std::string&, const std::string&, const std::string& merged) { add_piece(merged); });
  for (int n = 1; n <= 31; ++n) add(v, std::string(n, '\t'), TokenType::UserDefined, kSpecialScore);
  add(v, "<start_of_image>", TokenType::UserDefined, kSpecialScore);  // 255999
  add(v, "<end_of_image>", TokenType::UserDefined, kSpecialScore);    // 256000
  for (int i = 99; v.tokens.size() < static_cast<size_t>(p.n_vocab); ++i)
    add(v, "<unused" + std::to_string(i) + ">", TokenType::Control, kSpecialScore);
  return v;
}

Value string_array(std::vector<std::string> items) {
  Value::Array a;
  a.reserve(items.size());
  for (auto& s : items) a.push_back(Value::string(std::move(s)));
  return Value::array(ValueType::STRING, std::move(a));
}

Value int_array(const std::vector<int32_t>& items) {
  Value::Array a;
  a.reserve(items.size());
  for (int32_t x : items) a.push_back(Value::i32(x));
  return Value::array(ValueType::I32, std::move(a));
}

Value float_array(const std::vector<float>& items) {
  Value::Array a;
  a.reserve(items.size());
  for (float x : items) a.push_back(Value::f32(x));
  return Value::array(ValueType::F32, std::move(a));
}

}  // namespace

std::vector<std::pair<std::string, Value>> synthetic_tokenizer_metadata(const Preset& p) {
  std::vector<std::pair<std::string, Value>> kv;
  auto id = [](uint32_t x) { return Value::u32(x); };
  Vocab v;
  switch (p.vocab) {
    case VocabKind::Llama3: v = llama3_vocab(p); break;
    case VocabKind::Qwen2:
    case VocabKind::Qwen3: v = qwen_vocab(p); break;
    case VocabKind::Gemma3: v = gemma3_vocab(p); break;
  }
  if (v.tokens.size() != static_cast<size_t>(p.n_vocab))
    throw Error("synthetic vocabulary for " + std::string(p.name) + " has " + std::to_string(v.tokens.size()) +
                " tokens, expected " + std::to_string(p.n_vocab));

  if (p.vocab == VocabKind::Gemma3) {
    kv.emplace_back("tokenizer.ggml.model", Value::string("llama"));
    kv.emplace_back("tokenizer.ggml.pre", Value::string("default"));
    kv.emplace_back("tokenizer.ggml.tokens", string_array(std::move(v.tokens)));
    kv.emplace_back("tokenizer.ggml.scores", float_array(v.scores));
    kv.emplace_back("tokenizer.ggml.token_type", int_array(v.types));
    kv.emplace_back("tokenizer.ggml.bos_token_id", id(2));
    kv.emplace_back("tokenizer.ggml.eos_token_id", id(1));
    kv.emplace_back("tokenizer.ggml.unknown_token_id", id(3));
    kv.emplace_back("tokenizer.ggml.padding_token_id", id(0));
    kv.emplace_back("tokenizer.ggml.add_bos_token", Value::boolean(true));
    kv.emplace_back("tokenizer.ggml.add_sep_token", Value::boolean(false));
    kv.emplace_back("tokenizer.ggml.add_eos_token", Value::boolean(false));
    kv.emplace_back("tokenizer.ggml.add_space_prefix", Value::boolean(false));
  } else {
    const bool llama3 = p.vocab == VocabKind::Llama3;
    kv.emplace_back("tokenizer.ggml.model", Value::string("gpt2"));
    kv.emplace_back("tokenizer.ggml.pre", Value::string(llama3 ? "llama-bpe" : "qwen2"));
    kv.emplace_back("tokenizer.ggml.tokens", string_array(std::move(v.tokens)));
    kv.emplace_back("tokenizer.ggml.token_type", int_array(v.types));
    kv.emplace_back("tokenizer.ggml.merges", string_array(std::move(v.merges)));
    if (llama3) {
      kv.emplace_back("tokenizer.ggml.bos_token_id", id(128000));
      kv.emplace_back("tokenizer.ggml.eos_token_id", id(128009));  // <|eot_id|>: instruct models
      kv.emplace_back("tokenizer.ggml.add_bos_token", Value::boolean(true));
    } else {
      kv.emplace_back("tokenizer.ggml.eos_token_id", id(151645));  // <|im_end|>
      kv.emplace_back("tokenizer.ggml.padding_token_id", id(151643));
      kv.emplace_back("tokenizer.ggml.bos_token_id", id(151643));
      kv.emplace_back("tokenizer.ggml.add_bos_token", Value::boolean(false));
    }
  }
  kv.emplace_back("tokenizer.chat_template", Value::string(std::string(p.chat_template)));
  return kv;
}

}  // namespace kiln::gguf
