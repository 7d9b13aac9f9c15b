// The real test models (when present in $KILN_TEST_MODELS, default
// ~/.cache/kiln/models): create from a Modelfile, then show must report what
// the file holds. Expected values: the file's own metadata (gemma3,
// context_length 32768, general.file_type 15 = Q4_K_M) and its tensor element
// count, 268,098,176, which Ollama prints as "268.10M" (`ollama show gemma3:270m`).
#include <gtest/gtest.h>

#include <regex>

#include "cli_helpers.h"
#include "template/chat_template.h"

using namespace kiln::cli_test;

namespace {

fs::path test_model(const std::string& file) {
  const char* env = std::getenv("KILN_TEST_MODELS");
  fs::path dir = env && *env ? fs::path(env) : fs::path(std::getenv("HOME") ? std::getenv("HOME") : "/") / ".cache/kiln/models";
  return dir / file;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(CliRealModels, Gemma3CreateAndShow) {
  const fs::path gguf = test_model("gemma-3-270m-q4_k_m.gguf");
  if (!fs::exists(gguf)) GTEST_SKIP() << "real model not found: " << gguf << " (set KILN_TEST_MODELS)";
  StoreDir d("gemma3");
  d.write_file("Modelfile", "FROM " + gguf.string() + "\nPARAMETER stop <end_of_turn>\n");
  const auto created = d.kiln({"create", "gemma3-test", "-f", "Modelfile"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const auto r = d.kiln({"show", "gemma3-test"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out,
                       "  Model\n"
                       "    architecture        gemma3\n"
                       "    parameters          268.10M\n"
                       "    context length      32768\n"
                       "    embedding length    640\n"
                       "    quantization        Q4_K_M\n"))
      << r.out;
  // The mix of the file (236 tensors: 109 f32, 81 q5_0, 27 q4_K, 10 q8_0, 9 q6_K).
  for (const char* row : {"f32     109 tensors", "q5_0    81 tensors", "q4_K    27 tensors", "q8_0    10 tensors",
                          "q6_K    9 tensors"})
    EXPECT_TRUE(contains(r.out, row)) << row << "\n" << r.out;
  // No chat template in this file: the model gets kiln's built-in gemma3 one.
  const auto tmpl = d.kiln({"show", "gemma3-test", "--template"});
  EXPECT_EQ(tmpl.out, kiln::tmpl::builtin_chat_template("gemma3").value());
  EXPECT_TRUE(contains(tmpl.out, "<start_of_turn>")) << tmpl.out;
  const auto list = d.kiln({"list"});
  EXPECT_TRUE(std::regex_search(list.out, std::regex("gemma3-test:latest +[0-9a-f]{12} +253 MB +"))) << list.out;
  // The config blob records what Ollama's does.
  const auto manifest = nlohmann::json::parse(slurp(d.store() / "manifests/registry.ollama.ai/library/gemma3-test/latest"));
  const auto config = nlohmann::json::parse(
      slurp(d.store() / "blobs" / ("sha256-" + manifest["config"]["digest"].get<std::string>().substr(7))));
  EXPECT_EQ(config["model_type"], "268.10M");
  EXPECT_EQ(config["file_type"], "Q4_K_M");
  EXPECT_EQ(config["model_family"], "gemma3");
}

TEST(CliRealModels, QwenKeepsItsChatTemplate) {
  const fs::path gguf = test_model("qwen-0.5b.gguf");
  if (!fs::exists(gguf)) GTEST_SKIP() << "real model not found: " << gguf << " (set KILN_TEST_MODELS)";
  StoreDir d("qwen");
  const auto direct = d.kiln({"show", gguf.string()});
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  EXPECT_TRUE(contains(direct.out, "    architecture        qwen2\n")) << direct.out;
  EXPECT_TRUE(contains(direct.out, "    quantization        Q4_K_M\n")) << direct.out;
  EXPECT_TRUE(contains(direct.out, "    embedding length    896\n")) << direct.out;
  EXPECT_TRUE(contains(direct.out, "    tools\n")) << direct.out;  // its template handles tools
  d.write_file("Modelfile", "FROM " + gguf.string() + "\n");
  ASSERT_EQ(d.kiln({"create", "qwen-test"}).exit_code, 0);
  const auto tmpl = d.kiln({"show", "qwen-test", "--template"});
  EXPECT_EQ(tmpl.out, d.kiln({"show", gguf.string(), "--template"}).out);
  EXPECT_TRUE(contains(tmpl.out, "<|im_start|>")) << tmpl.out.substr(0, 200);
}
