#pragma once
// Modelfiles, as Ollama reads them:
//   # comment
//   FROM ./model.gguf            (a GGUF path, or the name of a stored model)
//   PARAMETER temperature 0.7    (Ollama's names and types; stop repeats)
//   TEMPLATE """{{ ... }}"""     (values may be "quoted" or """multi-line""")
//   SYSTEM You are a helpful assistant.
//   LICENSE """..."""            (repeatable: one layer each)
//   MESSAGE user Hello           (role: system, user or assistant)
// Instructions are case-insensitive. Every error names its line:
// "(line 3): unknown parameter 'temprature'".
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::store {

struct ChatMessage {
  std::string role;
  std::string content;
};

struct Modelfile {
  std::string from;
  int from_line = 0;
  std::optional<std::string> template_text;
  std::optional<std::string> system;
  std::vector<std::string> licenses;
  std::vector<ChatMessage> messages;
  nlohmann::json parameters = nlohmann::json::object();  // sorted keys, typed values
  std::vector<std::string> warnings;  // deprecated parameters that were skipped

  // Throws kiln::Error "(line N): ..." on the first error; "no FROM line" when
  // there is none.
  static Modelfile parse(std::string_view text);
  // Reads and parses a file; errors are prefixed with the path.
  static Modelfile load(const std::filesystem::path& path);
};

// Quotes a value so that Modelfile::parse reads it back unchanged: bare when
// it is one plain line, "..." or """...""" otherwise.
std::string modelfile_quote(std::string_view value);

}  // namespace kiln::store
