#pragma once
// Helpers shared by the tokenizer tests: fixture paths, JSON loading and the
// real test models ($KILN_TEST_MODELS, default ~/.cache/kiln/models).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::tok::testing {

inline std::filesystem::path fixture_dir() {
  return std::filesystem::path(KILN_FIXTURES) / "tokenizer";
}

inline nlohmann::json load_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open fixture " + path.string());
  return nlohmann::json::parse(in);
}

struct CorpusCase {
  std::string name, text;
};

inline std::vector<CorpusCase> load_corpus() {
  std::ifstream in(fixture_dir() / "corpus.jsonl", std::ios::binary);
  std::vector<CorpusCase> cases;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    cases.push_back({j.at("name").get<std::string>(), j.at("text").get<std::string>()});
  }
  return cases;
}

inline std::filesystem::path model_path(const std::string& file) {
  std::filesystem::path dir;
  if (const char* env = std::getenv("KILN_TEST_MODELS"); env && *env) dir = env;
  else if (const char* home = std::getenv("HOME")) dir = std::filesystem::path(home) / ".cache/kiln/models";
  return dir / file;
}

}  // namespace kiln::tok::testing
