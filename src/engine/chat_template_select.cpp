#include "engine/chat_template_select.h"

#include <utility>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace kiln::engine {

std::string builtin_template_family(const std::string& arch) {
  if (arch == "gemma3") return "gemma3";
  if (arch == "qwen2") return "qwen2.5";
  return {};
}

SelectedTemplate select_chat_template(const std::string& store_template, const gguf::File& file,
                                      const std::string& arch, const tok::Tokenizer& tk) {
  const std::string bos = tk.bos() >= 0 ? std::string(tk.token_text(tk.bos())) : std::string();
  const std::string eos = tk.eos() >= 0 ? std::string(tk.token_text(tk.eos())) : std::string();
  std::vector<std::pair<std::string, std::string>> candidates;  // (origin, source)
  if (!store_template.empty()) candidates.emplace_back("model", store_template);
  if (std::string own = file.get_string("tokenizer.chat_template"); !own.empty())
    candidates.emplace_back("gguf", std::move(own));
  if (std::string family = builtin_template_family(arch); !family.empty())
    if (auto text = tmpl::builtin_chat_template(family)) candidates.emplace_back("builtin:" + family, *text);
  SelectedTemplate out;
  for (auto& [origin, source] : candidates) {
    try {
      out.parsed = std::make_unique<tmpl::ChatTemplate>(source, bos, eos);
    } catch (const kiln::Error&) {
      continue;  // not a Jinja template kiln can parse: try the next one
    }
    out.source = std::move(source);
    out.origin = origin;
    break;
  }
  return out;
}

}  // namespace kiln::engine
