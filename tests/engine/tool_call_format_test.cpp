// Tool-call format detection from chat templates, and the round trip that
// ties detection and parsing to the templates themselves: render an
// assistant turn holding tool calls with the model's own template (the
// outside reference for what a model trained on it writes), cut off the
// prompt and the end-of-turn token, stream it through the thinking splitter
// and the parser, and get the same calls back.
#include "engine/tool_call_format.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/thinking.h"
#include "engine/tool_call_parser.h"
#include "gguf/gguf.h"
#include "template/chat_template.h"

namespace kiln::engine {
namespace {

using ojson = nlohmann::ordered_json;

std::string read(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct TemplateCase {
  std::string label;
  std::string source;
  ToolCallSyntax syntax;
  std::string open, close, args_marker, id_marker, arguments_key;
  bool several_calls;  // Llama's templates raise on more than one call
};

std::vector<TemplateCase> cases() {
  const std::string extra = std::string(KILN_FIXTURES) + "/template/extra/";
  const std::string own = std::string(KILN_FIXTURES) + "/tool_calls/";
  const auto builtin = [](const char* name) { return *tmpl::builtin_chat_template(name); };
  using S = ToolCallSyntax;
  return {
      {"qwen2.5", builtin("qwen2.5"), S::kTagged, "<tool_call>", "</tool_call>", "", "", "arguments", true},
      {"qwen3", read(extra + "qwen3.jinja"), S::kTagged, "<tool_call>", "</tool_call>", "", "", "arguments", true},
      {"llama3", builtin("llama3"), S::kLeadingJson, "<|python_tag|>", "", "", "", "parameters", false},
      {"llama3.2", read(extra + "llama3.2.jinja"), S::kLeadingJson, "", "", "", "", "parameters", false},
      {"mistral", builtin("mistral"), S::kMarkerArray, "[TOOL_CALLS]", "", "", "", "arguments", true},
      {"mistral-nemo", read(extra + "mistral-nemo.jinja"), S::kMarkerArray, "[TOOL_CALLS]", "", "", "", "arguments", true},
      {"mistral-small-3.1", read(extra + "mistral-small-3.1.jinja"), S::kMarkerArray, "[TOOL_CALLS]", "", "", "",
       "arguments", true},
      {"mistral-args", read(own + "mistral-args.jinja"), S::kMarkerArgs, "[TOOL_CALLS]", "", "[ARGS]", "", "arguments",
       true},
      {"mistral-args-callid", read(own + "mistral-args-callid.jinja"), S::kMarkerArgs, "[TOOL_CALLS]", "", "[ARGS]",
       "[CALL_ID]", "arguments", true},
  };
}

TEST(ToolCallFormat, DetectedFromEachTemplate) {
  for (const auto& c : cases()) {
    const auto f = detect_tool_call_format(c.source, "<s>", "</s>");
    SCOPED_TRACE(c.label + ": " + f.describe());
    EXPECT_EQ(f.syntax, c.syntax);
    EXPECT_EQ(f.open, c.open);
    EXPECT_EQ(f.close, c.close);
    EXPECT_EQ(f.args_marker, c.args_marker);
    EXPECT_EQ(f.id_marker, c.id_marker);
    EXPECT_EQ(f.name_key, "name");
    EXPECT_EQ(f.arguments_key, c.arguments_key);
    EXPECT_TRUE(f.from_template);
  }
}

TEST(ToolCallFormat, TemplateWithoutToolsGetsGenericFormat) {
  const auto f = detect_tool_call_format(*tmpl::builtin_chat_template("gemma3"), "<bos>", "<eos>");
  EXPECT_EQ(f.syntax, ToolCallSyntax::kLeadingJson);
  EXPECT_EQ(f.open, "");
  EXPECT_FALSE(f.from_template);
  EXPECT_EQ(f.describe(), generic_tool_call_format().describe());
}

TEST(ToolCallFormat, TextFallbackWhenTheProbeCannotRender) {
  // Templates that raise on any conversation still show their markers.
  const std::string raise = "{{ raise_exception('no') }}";
  EXPECT_EQ(detect_tool_call_format(raise + "<tool_call></tool_call>").syntax, ToolCallSyntax::kTagged);
  EXPECT_EQ(detect_tool_call_format(raise + "<tool_call></tool_call>").close, "</tool_call>");
  EXPECT_EQ(detect_tool_call_format(raise + "[TOOL_CALLS]").syntax, ToolCallSyntax::kMarkerArray);
  const auto args = detect_tool_call_format(raise + "[TOOL_CALLS] [ARGS] [CALL_ID]");
  EXPECT_EQ(args.syntax, ToolCallSyntax::kMarkerArgs);
  EXPECT_EQ(args.id_marker, "[CALL_ID]");
  const auto llama = detect_tool_call_format(raise + "<|python_tag|>");
  EXPECT_EQ(llama.open, "<|python_tag|>");
  EXPECT_TRUE(llama.from_template);
  EXPECT_FALSE(detect_tool_call_format(raise).from_template);
  // A template that does not even parse.
  EXPECT_EQ(detect_tool_call_format("{% if %}<tool_call>").syntax, ToolCallSyntax::kTagged);
}

TEST(ToolCallFormat, QwenGgufTemplate) {
  namespace fs = std::filesystem;
  const char* env = std::getenv("KILN_TEST_MODELS");
  const char* home = std::getenv("HOME");
  const fs::path dir = env && *env ? fs::path(env) : fs::path(home ? home : "") / ".cache/kiln/models";
  const fs::path path = dir / "qwen-0.5b.gguf";
  if (!fs::exists(path)) GTEST_SKIP() << path << " not present";
  const auto file = gguf::File::open(path);
  const auto f = detect_tool_call_format(file.get_string("tokenizer.chat_template"));
  EXPECT_EQ(f.syntax, ToolCallSyntax::kTagged) << f.describe();
  EXPECT_EQ(f.open, "<tool_call>");
  EXPECT_EQ(f.close, "</tool_call>");
}

// --- round trip through the templates ---

struct Call {
  std::string id, name;
  ojson arguments;
};

std::vector<Call> sample_calls() {
  return {
      {"call00001", "get_weather", ojson::parse(R"({"city": "Saint-\u00c9tienne \"the {green}\"", "days": 3})")},
      {"call00002", "search",
       ojson::parse(R"({"q": "a}b]c\\d", "filters": {"langs": ["fr", "日本語"], "since": null, "deep": {"x": [{}, []]}}})")},
      {"call00003", "list_files", ojson::object()},
  };
}

ojson tools_json(const std::vector<Call>& calls) {
  ojson tools = ojson::array();
  for (const auto& c : calls)
    tools.push_back({{"type", "function"},
                     {"function",
                      {{"name", c.name},
                       {"description", "test tool " + c.name},
                       {"parameters", {{"type", "object"}, {"properties", ojson::object()}}}}}});
  return tools;
}

// What the model generates for this assistant turn: the render with it,
// minus the render up to the generation prompt, minus the end of turn.
std::string generated_text(const std::string& source, const std::vector<Call>& calls, const std::string& reasoning,
                           std::string* prompt_out) {
  const tmpl::ChatTemplate chat(source, "<s>", "</s>");
  ojson tool_calls = ojson::array();
  for (const auto& c : calls)
    tool_calls.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  ojson assistant = {{"role", "assistant"}, {"content", ""}, {"tool_calls", tool_calls}};
  if (!reasoning.empty()) assistant["reasoning_content"] = reasoning;
  tmpl::ChatInputs prompt;
  prompt.messages = ojson::array({{{"role", "user"}, {"content", "What is the weather in Saint-Étienne?"}}});
  prompt.tools = tools_json(calls);
  tmpl::ChatInputs answered = prompt;
  answered.messages.push_back(assistant);
  answered.add_generation_prompt = false;
  const std::string g = chat.render(prompt), a = chat.render(answered);
  size_t common = 0;
  while (common < g.size() && common < a.size() && g[common] == a[common]) ++common;
  EXPECT_EQ(common, g.size()) << "the assistant turn should extend the generation prompt";
  std::string t = a.substr(common);
  for (bool cut = true; cut;) {
    cut = false;
    while (!t.empty() && is_space(t.back())) t.pop_back();
    for (const std::string end : {"<|im_end|>", "<|eot_id|>", "<|eom_id|>", "</s>", "<end_of_turn>"})
      if (t.ends_with(end)) {
        t.resize(t.size() - end.size());
        cut = true;
      }
  }
  *prompt_out = g;
  return t;
}

struct Parsed {
  std::string thinking, content;
  std::vector<ToolCall> calls;
};

// The server's pipeline: thinking splitter (when the template has thinking),
// then the tool-call parser on the content.
Parsed pipeline(const std::string& source, const std::string& prompt, const std::vector<std::string>& pieces,
                const std::vector<std::string>& names) {
  Parsed r;
  ToolCallParser parser(detect_tool_call_format(source, "<s>", "</s>"), names, 7);
  const auto tags = detect_thinking_tags(source);
  std::optional<ThinkingSplitter> splitter;
  if (tags) splitter.emplace(*tags, prompt_opens_thinking(prompt, *tags));
  const auto take = [&](ToolCallParser::Output o) {
    r.content += o.content;
    for (auto& c : o.calls) r.calls.push_back(std::move(c));
  };
  const auto push = [&](const std::string& piece, bool last) {
    std::string content = piece;
    if (splitter) {
      auto o = last ? splitter->finish() : splitter->feed(piece);
      r.thinking += o.thinking;
      content = o.content;
    }
    take(parser.feed(content));
    if (last) take(parser.finish());
  };
  for (const auto& p : pieces) push(p, false);
  push("", true);
  return r;
}

TEST(ToolCallFormat, RoundTripThroughEachTemplate) {
  std::mt19937 rng(11);
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.label);
    auto calls = sample_calls();
    if (!c.several_calls) calls.resize(1);
    std::vector<std::string> names;
    for (const auto& call : calls) names.push_back(call.name);
    const bool thinks = detect_thinking_tags(c.source).has_value();
    const std::string reasoning = thinks ? "The user wants {weather}; call get_weather </thin k>." : "";
    std::string prompt;
    const std::string text = generated_text(c.source, calls, reasoning, &prompt);
    ASSERT_NE(text.find("get_weather"), std::string::npos) << text;

    // Whole, byte by byte, and at random cuts: the same calls.
    std::vector<std::vector<std::string>> cuttings = {{text}, {}};
    for (char ch : text) cuttings[1].emplace_back(1, ch);
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<std::string> pieces;
      for (size_t i = 0; i < text.size();) {
        const size_t len = std::uniform_int_distribution<size_t>(1, 7)(rng);
        pieces.push_back(text.substr(i, len));
        i += len;
      }
      cuttings.push_back(pieces);
    }
    for (const auto& pieces : cuttings) {
      const Parsed r = pipeline(c.source, prompt, pieces, names);
      EXPECT_EQ(r.content, "") << text;
      EXPECT_EQ(r.thinking, reasoning);
      ASSERT_EQ(r.calls.size(), calls.size()) << text;
      for (size_t i = 0; i < calls.size(); ++i) {
        EXPECT_EQ(r.calls[i].name, calls[i].name);
        EXPECT_EQ(r.calls[i].arguments, calls[i].arguments) << r.calls[i].arguments.dump();
        EXPECT_EQ(r.calls[i].index, static_cast<int>(i));
        // Mistral's formats carry the id through the model's output.
        if (c.label.starts_with("mistral") && c.label != "mistral-args") {
          EXPECT_EQ(r.calls[i].id, calls[i].id);
        }
      }
    }
    // With the first tool missing from the request, its call is content.
    std::vector<std::string> fewer(names.begin() + 1, names.end());
    if (fewer.empty()) fewer.push_back("other_tool");
    const Parsed unknown = pipeline(c.source, prompt, {text}, fewer);
    EXPECT_FALSE(unknown.content.empty());
    EXPECT_NE(unknown.content.find("get_weather"), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln::engine
