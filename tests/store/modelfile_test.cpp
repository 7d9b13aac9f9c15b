// Modelfile parsing: every instruction, quoting, comments, case, and errors
// that name their line.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "store/modelfile.h"
#include "store/parameters.h"

using kiln::store::Modelfile;

namespace {

// The message of the kiln::Error that parsing `text` throws.
std::string parse_error(const std::string& text) {
  try {
    Modelfile::parse(text);
  } catch (const kiln::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Modelfile, EveryInstruction) {
  const auto mf = Modelfile::parse(R"(# A complete Modelfile
FROM ./weights/model.gguf
PARAMETER temperature 0.7
PARAMETER top_k 40
PARAMETER num_ctx 4096
PARAMETER stop <|im_end|>
PARAMETER stop "<|endoftext|>"
PARAMETER use_mmap false
TEMPLATE """{{ if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}"""
SYSTEM You are a terse assistant.
LICENSE """MIT License
Copyright (c) kiln"""
LICENSE Apache-2.0
MESSAGE user Is the sky blue?
MESSAGE assistant "Yes, mostly."
)");
  EXPECT_EQ(mf.from, "./weights/model.gguf");
  EXPECT_EQ(mf.from_line, 2);
  EXPECT_EQ(mf.parameters["temperature"], 0.7);
  EXPECT_EQ(mf.parameters["top_k"], 40);
  EXPECT_EQ(mf.parameters["num_ctx"], 4096);
  EXPECT_EQ(mf.parameters["use_mmap"], false);
  EXPECT_EQ(mf.parameters["stop"], (nlohmann::json{"<|im_end|>", "<|endoftext|>"}));
  ASSERT_TRUE(mf.template_text);
  EXPECT_EQ(*mf.template_text, "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}");
  ASSERT_TRUE(mf.system);
  EXPECT_EQ(*mf.system, "You are a terse assistant.");
  ASSERT_EQ(mf.licenses.size(), 2u);
  EXPECT_EQ(mf.licenses[0], "MIT License\nCopyright (c) kiln");
  EXPECT_EQ(mf.licenses[1], "Apache-2.0");
  ASSERT_EQ(mf.messages.size(), 2u);
  EXPECT_EQ(mf.messages[0].role, "user");
  EXPECT_EQ(mf.messages[0].content, "Is the sky blue?");
  EXPECT_EQ(mf.messages[1].role, "assistant");
  EXPECT_EQ(mf.messages[1].content, "Yes, mostly.");
  EXPECT_TRUE(mf.warnings.empty());
}

TEST(Modelfile, InstructionsAreCaseInsensitive) {
  const auto mf = Modelfile::parse("from llama3\nParameter Temperature 1\nsYsTeM hi\ntemplate {{ .Prompt }}\n");
  EXPECT_EQ(mf.from, "llama3");
  EXPECT_EQ(mf.parameters["temperature"], 1);
  EXPECT_EQ(*mf.system, "hi");
  EXPECT_EQ(*mf.template_text, "{{ .Prompt }}");
}

TEST(Modelfile, CommentsBlankLinesAndWhitespace) {
  const auto mf = Modelfile::parse(
      "\xEF\xBB\xBF# leading BOM and comment\r\n\r\n   # indented comment\n\tFROM   model.gguf   \r\n"
      "SYSTEM\t  spaced value with # not a comment  \n");
  EXPECT_EQ(mf.from, "model.gguf");
  EXPECT_EQ(*mf.system, "spaced value with # not a comment");
}

TEST(Modelfile, LaterTemplateAndSystemReplaceEarlier) {
  const auto mf = Modelfile::parse("FROM m\nSYSTEM one\nSYSTEM two\nTEMPLATE a\nTEMPLATE b\nPARAMETER seed 1\nPARAMETER seed 2\n");
  EXPECT_EQ(*mf.system, "two");
  EXPECT_EQ(*mf.template_text, "b");
  EXPECT_EQ(mf.parameters["seed"], 2);
}

TEST(Modelfile, QuotedValues) {
  // A quote ends a value only where whitespace or the end follows it.
  const auto mf = Modelfile::parse(
      "FROM \"/path with spaces/m.gguf\"\n"
      "SYSTEM \"He said \"hi\"\"\n"
      "TEMPLATE \"\"\"\"quoted\" start\"\"\"\n"
      "MESSAGE user \"\"\"two\nlines\"\"\"\n"
      "LICENSE \"single\nquote may span lines\"\n");
  EXPECT_EQ(mf.from, "/path with spaces/m.gguf");
  EXPECT_EQ(*mf.system, "He said \"hi\"");
  EXPECT_EQ(*mf.template_text, "\"quoted\" start");
  EXPECT_EQ(mf.messages[0].content, "two\nlines");
  EXPECT_EQ(mf.licenses[0], "single\nquote may span lines");
}

TEST(Modelfile, QuoteRoundTrips) {
  const std::string values[] = {
      "plain", "two\nlines", " leading space", "trailing space ", "\"starts with quote", "ends with quote\"",
      "has \"\"\" inside", "a \" b", "{{ if .System }}\n\"x\"\n{{ end }}", "tab\tinside",
  };
  for (const auto& v : values) {
    const auto mf = Modelfile::parse("FROM m\nSYSTEM " + kiln::store::modelfile_quote(v) + "\n");
    EXPECT_EQ(*mf.system, v) << kiln::store::modelfile_quote(v);
  }
}

TEST(Modelfile, ParameterTypesFollowGo) {
  const auto mf = Modelfile::parse(
      "FROM m\nPARAMETER num_predict -1\nPARAMETER seed +42\nPARAMETER top_p .9\nPARAMETER min_p 5e-2\n"
      "PARAMETER use_mmap T\nPARAMETER repeat_penalty 1.10\n");
  EXPECT_EQ(mf.parameters["num_predict"], -1);
  EXPECT_EQ(mf.parameters["seed"], 42);
  EXPECT_DOUBLE_EQ(mf.parameters["top_p"].get<double>(), 0.9);
  EXPECT_DOUBLE_EQ(mf.parameters["min_p"].get<double>(), 0.05);
  EXPECT_EQ(mf.parameters["use_mmap"], true);
  EXPECT_DOUBLE_EQ(mf.parameters["repeat_penalty"].get<double>(), 1.1);
}

TEST(Modelfile, EveryOllamaParameterIsAccepted) {
  for (const auto& spec : kiln::store::all_params()) {
    std::string value = "1";
    if (spec.type == kiln::store::ParamType::Bool) value = "true";
    if (spec.type == kiln::store::ParamType::StringList) value = "</s>";
    EXPECT_NO_THROW(Modelfile::parse("FROM m\nPARAMETER " + std::string(spec.name) + " " + value + "\n")) << spec.name;
  }
}

TEST(Modelfile, DeprecatedParametersWarn) {
  const auto mf = Modelfile::parse("FROM m\nPARAMETER mirostat 2\nPARAMETER temperature 0\n");
  EXPECT_FALSE(mf.parameters.contains("mirostat"));
  ASSERT_EQ(mf.warnings.size(), 1u);
  EXPECT_NE(mf.warnings[0].find("mirostat"), std::string::npos);
  EXPECT_NE(mf.warnings[0].find("line 2"), std::string::npos);
}

TEST(Modelfile, ErrorsNameTheLine) {
  struct Case {
    std::string text;
    std::string expect;
  } cases[] = {
      {"FROM m\nPARAMETER temprature 0.5\n", "(line 2): unknown parameter 'temprature'"},
      {"FROM m\n\n\nPARAMETER temperature hot\n", "(line 4): invalid float value \"hot\" for parameter temperature"},
      {"FROM m\nPARAMETER top_k 4.5\n", "(line 2): invalid integer value \"4.5\" for parameter top_k"},
      {"FROM m\nPARAMETER top_k 99999999999999999999\n", "(line 2): invalid integer value"},
      {"FROM m\nPARAMETER use_mmap yes\n", "(line 2): invalid bool value \"yes\" for parameter use_mmap"},
      {"FROM m\nPARAMETER temperature nan\n", "(line 2): invalid float value \"nan\""},
      {"FROM m\nPARAMETER temperature 1e39\n", "(line 2): invalid float value"},
      {"FROM m\nPARAMETER\n", "(line 2): PARAMETER needs a value"},
      {"FROM m\nPARAMETER seed\n", "(line 2): PARAMETER needs a name and a value"},
      {"FROM m\nPARAMETER seed    \n", "(line 2): PARAMETER seed needs a value"},
      {"FROM m\nSYSTEM\n", "(line 2): SYSTEM needs a value"},
      {"FROM\n", "(line 1): FROM needs a value"},
      {"FROM m\nINSTRUCTION x\n", "(line 2): unknown instruction \"INSTRUCTION\""},
      {"FROM m\n  \n!!! x\n", "(line 3): unknown instruction \"!!! x\""},
      {"FROM m\nADAPTER ./lora.gguf\n", "(line 2): ADAPTER is not supported by kiln"},
      {"FROM m\nFROM n\n", "(line 2): more than one FROM (the first is on line 1)"},
      {"FROM m\nMESSAGE robot hi\n", "(line 2): message role must be one of \"system\", \"user\", or \"assistant\""},
      {"FROM m\nMESSAGE user\n", "(line 2): MESSAGE needs a role and a content"},
      {"FROM m\nTEMPLATE \"\"\"never\nclosed\n", "(line 2): TEMPLATE: unterminated \"\"\" string"},
      {"FROM m\nSYSTEM \"open\n", "(line 2): SYSTEM: unterminated \" string"},
      {"FROM m\nSYSTEM \"a\" trailing\n", "(line 2): SYSTEM: unexpected text after the closing quote: trailing"},
      {"FROM m\nTEMPLATE \"\"\"a\nb\"\"\" x\n", "(line 3): TEMPLATE: unexpected text after the closing quote"},
      {"# only a comment\nSYSTEM hi\n", "no FROM line"},
      {"", "no FROM line"},
  };
  for (const auto& c : cases) {
    const std::string err = parse_error(c.text);
    EXPECT_EQ(err.rfind(c.expect, 0), 0u) << "input:\n" << c.text << "\nerror: " << err << "\nexpected prefix: " << c.expect;
  }
}

TEST(Modelfile, LineNumbersCountMultilineValues) {
  const std::string err = parse_error("FROM m\nTEMPLATE \"\"\"1\n2\n3\"\"\"\r\nSYSTEM \"x\nyz\"\nPARAMETER bogus 1\n");
  EXPECT_EQ(err.rfind("(line 7): unknown parameter 'bogus'", 0), 0u) << err;
}

TEST(Modelfile, LoadPrefixesThePath) {
  try {
    Modelfile::load("/nonexistent/Modelfile");
    FAIL();
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/Modelfile"), std::string::npos);
  }
}

TEST(Parameters, DisplayLinesAreSortedAndTyped) {
  const auto mf = Modelfile::parse("FROM m\nPARAMETER top_p 0.95\nPARAMETER stop <end>\nPARAMETER stop <eot>\nPARAMETER temperature 1\n");
  const auto lines = kiln::store::param_lines(mf.parameters);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], (std::pair<std::string, std::string>{"stop", "\"<end>\""}));
  EXPECT_EQ(lines[1], (std::pair<std::string, std::string>{"stop", "\"<eot>\""}));
  EXPECT_EQ(lines[2], (std::pair<std::string, std::string>{"temperature", "1"}));
  EXPECT_EQ(lines[3], (std::pair<std::string, std::string>{"top_p", "0.95"}));
  // The params layer is the JSON Ollama writes: sorted keys, stop as an array.
  EXPECT_EQ(mf.parameters.dump(), R"({"stop":["<end>","<eot>"],"temperature":1,"top_p":0.95})");
}

TEST(Parameters, CheckRejectsBadLayers) {
  EXPECT_NO_THROW(kiln::store::check_params(nlohmann::json::parse(R"({"temperature":0.5,"stop":["x"],"num_ctx":8})")));
  EXPECT_THROW(kiln::store::check_params(nlohmann::json::parse(R"({"bogus":1})")), kiln::Error);
  EXPECT_THROW(kiln::store::check_params(nlohmann::json::parse(R"({"stop":"x"})")), kiln::Error);
  EXPECT_THROW(kiln::store::check_params(nlohmann::json::parse(R"({"top_k":"x"})")), kiln::Error);
  EXPECT_THROW(kiln::store::check_params(nlohmann::json::parse(R"([1])")), kiln::Error);
}

TEST(Modelfile, RandomInputNeverCrashes) {
  // Mutations of a valid Modelfile and random bytes: parse succeeds or throws
  // kiln::Error, nothing else.
  const std::string seed =
      "FROM ./m.gguf\nPARAMETER temperature 0.5\nPARAMETER stop \"<|x|>\"\nTEMPLATE \"\"\"{{ .Prompt }}\n\"\"\"\n"
      "SYSTEM \"hi\"\nMESSAGE user \"\"\"a\nb\"\"\"\nLICENSE MIT\n# c\n";
  const std::string alphabet = "\"#\n\r\t FROMPARAMETERmessage:_0.9-\xEF\xBB\xBF\x01";
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = seed;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % (s.size() + 1);
      switch (rng() % 3) {
        case 0: s.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        case 1: if (pos < s.size()) s.erase(pos, 1 + rng() % 4); break;
        default: if (pos < s.size()) s[pos] = static_cast<char>(rng()); break;
      }
    }
    if (iter % 10 == 0) {
      s.resize(rng() % 64);
      for (char& c : s) c = static_cast<char>(rng());
    }
    try {
      Modelfile::parse(s);
    } catch (const kiln::Error&) {
    }
  }
}
