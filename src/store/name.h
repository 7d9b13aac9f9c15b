#pragma once
// Model names as Ollama writes them: [host/][namespace/]model[:tag].
// "qwen2.5:0.5b" is registry.ollama.ai/library/qwen2.5:0.5b and a missing tag
// is "latest". Every part is validated strictly (characters, length, no "..")
// because the four parts become four directory levels under manifests/: a name
// that parses can never reach outside the store.
#include <filesystem>
#include <string>
#include <string_view>

namespace kiln::store {

inline constexpr std::string_view kDefaultHost = "registry.ollama.ai";
inline constexpr std::string_view kDefaultNamespace = "library";
inline constexpr std::string_view kDefaultTag = "latest";

class ModelName {
 public:
  // Parses and fills defaults; throws kiln::Error naming the bad part.
  static ModelName parse(std::string_view text);
  // Builds from four explicit parts (e.g. directory names read from disk),
  // validating each; throws kiln::Error if any part is invalid.
  static ModelName from_parts(std::string host, std::string ns, std::string model, std::string tag);
  // True when `text` parses.
  static bool is_valid(std::string_view text);

  const std::string& host() const { return host_; }
  const std::string& ns() const { return ns_; }
  const std::string& model() const { return model_; }
  const std::string& tag() const { return tag_; }

  // Shortest form Ollama prints: "model:tag", "ns/model:tag" or the full name.
  std::string display() const;
  // "host/ns/model:tag".
  std::string full() const;
  // host/ns/model/tag, relative to the manifests directory.
  std::filesystem::path manifest_path() const;

  // Ollama compares names without regard to ASCII case.
  bool equal_fold(const ModelName& other) const;
  bool operator==(const ModelName&) const = default;

 private:
  ModelName() = default;
  std::string host_, ns_, model_, tag_;
};

// Case-insensitive ASCII equality (the rule names and instructions use).
bool iequals(std::string_view a, std::string_view b);

}  // namespace kiln::store
