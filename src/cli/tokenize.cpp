// `kiln tokenize GGUF_PATH TEXT [--ids-only] [--no-special] [--no-parse-special]`:
// a debugging view of the model's tokenizer. Prints one line per token
// ("id -> 'piece'") or, with --ids-only, the ids on one line. --no-special
// leaves out BOS/EOS; --no-parse-special treats "<|im_start|>"-like text as
// plain text.
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {
namespace {

struct TokenizeArgs {
  std::string path, text;
  bool ids_only = false, no_special = false, no_parse_special = false;
};

// Control characters and quotes are escaped so every piece fits on one line.
std::string printable(std::string_view piece) {
  std::string s;
  for (unsigned char c : piece) {
    if (c == '\n') s += "\\n";
    else if (c == '\t') s += "\\t";
    else if (c == '\r') s += "\\r";
    else if (c == '\'') s += "\\'";
    else if (c == '\\') s += "\\\\";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      s += buf;
    } else {
      s.push_back(static_cast<char>(c));  // UTF-8 bytes pass through
    }
  }
  return s;
}

void run(const TokenizeArgs& a) {
  const gguf::File file = gguf::File::open(a.path);
  const tok::Tokenizer t = tok::Tokenizer::from_gguf(file);
  const auto ids = t.encode(a.text, !a.no_special, !a.no_parse_special);
  if (a.ids_only) {
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
    std::printf("%s\n", line.c_str());
    return;
  }
  for (int32_t id : ids) std::printf("%7d -> '%s'\n", id, printable(t.piece(id)).c_str());
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Show how a model's tokenizer splits a text");
  cmd->add_option("model", args->path, "GGUF file")->required()->check(CLI::ExistingFile);
  cmd->add_option("text", args->text, "Text to tokenize")->required();
  cmd->add_flag("--ids-only", args->ids_only, "Print only the token ids, on one line");
  cmd->add_flag("--no-special", args->no_special, "Do not add BOS/EOS");
  cmd->add_flag("--no-parse-special", args->no_parse_special,
                "Treat control-token text such as <|im_start|> as plain text");
  cmd->callback([args] { run(*args); });
}

}  // namespace kiln::cli
