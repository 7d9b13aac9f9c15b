#pragma once
// Which chat template a model speaks with, decided the same way for `kiln
// run` (Session) and `kiln serve` (the model pool): the store's template
// layer, else the GGUF's tokenizer.chat_template, else kiln's built-in
// template for the architecture. A candidate kiln cannot parse (a Go template
// from Ollama's registry, say) is skipped for the next one.
#include <memory>
#include <string>

namespace kiln::gguf {
class File;
}
namespace kiln::tok {
class Tokenizer;
}
namespace kiln::tmpl {
class ChatTemplate;
}

namespace kiln::engine {

struct SelectedTemplate {
  std::string source;  // the template text; empty when there is none
  // "model" (the store's layer), "gguf", "builtin:<family>", or "none"
  // (messages are then joined as plain text).
  std::string origin = "none";
  std::unique_ptr<tmpl::ChatTemplate> parsed;  // null when origin is "none"
};

// The family name of kiln's built-in template for an architecture ("" when
// none: "llama" files may be Llama 2, Llama 3 or Mistral).
std::string builtin_template_family(const std::string& arch);

// `store_template`: the store's template layer ("" for none or a bare GGUF
// file). bos/eos text for the template comes from the tokenizer.
SelectedTemplate select_chat_template(const std::string& store_template, const gguf::File& file,
                                      const std::string& arch, const tok::Tokenizer& tokenizer);

}  // namespace kiln::engine
