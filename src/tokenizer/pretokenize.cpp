#include "tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <memory>

#include "core/error.h"

namespace kiln::tok {
namespace {

// HF's regexes run on Oniguruma, whose \s is Unicode White_Space (it includes
// U+0085 NEXT LINE); PCRE2's \s with UCP does not include U+0085. The
// patterns below therefore spell \s as [\s\x{85}] and \S as [^\s\x{85}].
constexpr std::string_view kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\x{85}\p{L}\p{N}]+|[\s\x{85}]+(?![^\s\x{85}])|[\s\x{85}]+)";
constexpr std::string_view kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\x{85}\p{L}\p{N}]+[\r\n]*|[\s\x{85}]*[\r\n]+|[\s\x{85}]+(?![^\s\x{85}])|[\s\x{85}]+)";
constexpr std::string_view kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\x{85}\p{L}\p{N}]+[\r\n]*|[\s\x{85}]*[\r\n]+|[\s\x{85}]+(?![^\s\x{85}])|[\s\x{85}]+)";

struct Named {
  std::string_view name;
  PreTokenizerInfo info;
};
constexpr std::array kKnown = {
    Named{"default", {kGpt2, false, false}},
    Named{"gpt2", {kGpt2, false, false}},
    Named{"gpt-2", {kGpt2, false, false}},
    Named{"llama3", {kLlama3, true, true}},
    Named{"llama-v3", {kLlama3, true, true}},
    Named{"llama-bpe", {kLlama3, true, true}},
    Named{"falcon3", {kLlama3, true, true}},
    Named{"pixtral", {kLlama3, true, true}},
    Named{"qwen2", {kQwen2, false, false}},
    Named{"deepseek-r1-qwen", {kQwen2, false, false}},
};

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

PreTokenizerInfo pre_tokenizer_info(std::string_view name) {
  for (const Named& n : kKnown)
    if (n.name == name) return n.info;
  std::string known;
  for (const Named& n : kKnown) known += (known.empty() ? "" : ", ") + std::string(n.name);
  throw kiln::Error("unsupported tokenizer.ggml.pre \"" + std::string(name) +
                    "\" (supported: " + known + ")");
}

PreTokenizer::PreTokenizer(std::string_view regex) {
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(regex.data()), regex.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err,
                                   &err_offset, nullptr);
  if (code == nullptr)
    throw kiln::Error("pre-tokenizer regex does not compile at offset " + std::to_string(err_offset) +
                      ": " + pcre2_message(err));
  code_ = code;
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

PreTokenizer::~PreTokenizer() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
  auto* code = static_cast<pcre2_code*>(code_);
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create_from_pattern(code, nullptr), &pcre2_match_data_free);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;   // where the next search starts
  size_t done = 0;  // end of the last piece emitted
  while (pos < text.size()) {
    const int rc = jit_ ? pcre2_jit_match(code, subject, text.size(), pos, 0, md.get(), nullptr)
                        : pcre2_match(code, subject, text.size(), pos, 0, md.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw kiln::Error("pre-tokenizer regex failed: " + pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    const size_t begin = ov[0], end = ov[1];
    if (end == begin) {  // cannot happen with the built-in patterns; never loop
      pos = begin + 1;
      continue;
    }
    if (begin > done) out.push_back(text.substr(done, begin - done));
    out.push_back(text.substr(begin, end - begin));
    done = pos = end;
  }
  if (done < text.size()) out.push_back(text.substr(done));
}

}  // namespace kiln::tok
