#pragma once
// Pre-tokenizer regexes for byte-level BPE, run with PCRE2 (UTF + UCP, JIT).
// The text is cut into the regex's matches and the gaps between them, each
// kept as a piece (HF `tokenizers`' Split with behavior "Isolated").
#include <string>
#include <string_view>
#include <vector>

namespace kiln::tok {

struct PreTokenizerInfo {
  std::string_view regex;
  bool ignore_merges;    // llama.cpp/HF: a piece that is already a token is kept whole
  bool default_add_bos;  // llama.cpp's add_bos when the GGUF does not say
};

// Looks up tokenizer.ggml.pre. Supported: "gpt2"/"gpt-2"/"default" (GPT-2's
// regex; llama.cpp's "default" is its own mix of four regexes, but every
// byte-level vocabulary labelled "default" we know was trained with GPT-2's
// split, so that is what "default" means here), "llama3"/"llama-v3"/
// "llama-bpe"/"falcon3"/"pixtral" (Llama 3), "qwen2"/"deepseek-r1-qwen"
// (Qwen2). Anything else throws kiln::Error naming the value.
PreTokenizerInfo pre_tokenizer_info(std::string_view name);

class PreTokenizer {
 public:
  explicit PreTokenizer(std::string_view regex);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Appends the pieces of text (views into it) to out. Invalid UTF-8 never
  // matches the regex, so such bytes end up in gap pieces; nothing is lost.
  void split(std::string_view text, std::vector<std::string_view>& out) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

}  // namespace kiln::tok
