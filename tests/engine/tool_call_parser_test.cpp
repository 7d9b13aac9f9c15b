// The streaming tool-call parser, format by format: single and several
// calls, content before/after, malformed and unfinished calls (released as
// content), unknown tool names, nested braces and strings with braces,
// quotes and escapes inside arguments, UTF-8, and how much is held back
// while streaming. Expected arguments are what nlohmann::json parses from the
// same JSON text; expected content is the input text, byte for byte.
#include "engine/tool_call_parser.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

namespace kiln::engine {
namespace {

using ojson = nlohmann::ordered_json;

struct Events {
  std::string content;
  std::vector<ToolCall> calls;
};

Events run(ToolCallParser& p, const std::vector<std::string>& pieces) {
  Events e;
  const auto add = [&](ToolCallParser::Output o) {
    e.content += o.content;
    for (auto& c : o.calls) e.calls.push_back(std::move(c));
  };
  for (const auto& piece : pieces) add(p.feed(piece));
  add(p.finish());
  return e;
}

Events parse(const ToolCallFormat& f, const std::string& text, std::vector<std::string> names = {}) {
  ToolCallParser p(f, std::move(names));
  return run(p, {text});
}

ToolCallFormat tagged() {
  ToolCallFormat f;
  f.syntax = ToolCallSyntax::kTagged;
  f.open = "<tool_call>";
  f.close = "</tool_call>";
  f.from_template = true;
  return f;
}

ToolCallFormat llama() {
  ToolCallFormat f;
  f.open = "<|python_tag|>";
  f.arguments_key = "parameters";
  f.from_template = true;
  return f;
}

ToolCallFormat mistral_array() {
  ToolCallFormat f;
  f.syntax = ToolCallSyntax::kMarkerArray;
  f.open = "[TOOL_CALLS]";
  f.from_template = true;
  return f;
}

ToolCallFormat mistral_args(bool call_id = false) {
  ToolCallFormat f;
  f.syntax = ToolCallSyntax::kMarkerArgs;
  f.open = "[TOOL_CALLS]";
  f.args_marker = "[ARGS]";
  if (call_id) f.id_marker = "[CALL_ID]";
  f.from_template = true;
  return f;
}

const std::string kWeather = R"({"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}})";
const ojson kWeatherArgs = ojson::parse(R"({"city": "Paris", "unit": "celsius"})");

// Arguments with everything that could confuse a brace counter or a string
// scanner: braces and brackets in strings, escaped quotes and backslashes,
// \u escapes (a surrogate pair too), raw UTF-8, nesting, empty containers.
const std::string kTrickyArgs =
    R"({"code": "if (a) { b(\"}\"); } // ]]", "re": "[{]\\\\", "u": "caf\u00e9 \ud83c\udf89", )"
    R"("raw": "世界 ☃ ⌘", "nested": {"a": [{"b": {}}, [], "{"], "n": -1.5e3, "t": true, "z": null}})";

TEST(ToolCallParser, TaggedSingleCall) {
  const auto e = parse(tagged(), "<tool_call>\n" + kWeather + "\n</tool_call>");
  EXPECT_EQ(e.content, "");
  ASSERT_EQ(e.calls.size(), 1u);
  EXPECT_EQ(e.calls[0].name, "get_weather");
  EXPECT_EQ(e.calls[0].arguments, kWeatherArgs);
  EXPECT_EQ(e.calls[0].index, 0);
  EXPECT_TRUE(std::regex_match(e.calls[0].id, std::regex("call_[a-z0-9]{8}"))) << e.calls[0].id;
}

TEST(ToolCallParser, TaggedSeveralCallsKeepOrderAndDropWhitespaceBetween) {
  const std::string second = R"({"name": "get_time", "arguments": {"zone": "CET"}})";
  const auto e = parse(tagged(), "\n<tool_call>\n" + kWeather + "\n</tool_call>\n\n<tool_call>\n" + second +
                                     "\n</tool_call>\n");
  EXPECT_EQ(e.content, "");
  ASSERT_EQ(e.calls.size(), 2u);
  EXPECT_EQ(e.calls[0].name, "get_weather");
  EXPECT_EQ(e.calls[1].name, "get_time");
  EXPECT_EQ(e.calls[1].arguments, ojson::parse(R"({"zone": "CET"})"));
  EXPECT_EQ(e.calls[1].index, 1);
  EXPECT_NE(e.calls[0].id, e.calls[1].id);
}

TEST(ToolCallParser, TaggedContentBeforeAndAfter) {
  const auto e = parse(tagged(), "Let me check.\n<tool_call>\n" + kWeather + "\n</tool_call>\nDone, see above.");
  EXPECT_EQ(e.content, "Let me check.\n\nDone, see above.");
  ASSERT_EQ(e.calls.size(), 1u);
  EXPECT_EQ(e.calls[0].content_before, std::string("Let me check.\n").size());
}

TEST(ToolCallParser, TrickyArgumentsSurviveExactly) {
  const std::string call = R"({"name": "run", "arguments": )" + kTrickyArgs + "}";
  const auto e = parse(tagged(), "<tool_call>\n" + call + "\n</tool_call>");
  ASSERT_EQ(e.calls.size(), 1u) << e.content;
  EXPECT_EQ(e.calls[0].arguments, ojson::parse(kTrickyArgs));
  EXPECT_EQ(e.calls[0].arguments["u"].get<std::string>(), "caf\xC3\xA9 \xF0\x9F\x8E\x89");
  // Keys keep the model's order (ordered_json), as clients see them.
  EXPECT_EQ(e.calls[0].arguments.begin().key(), "code");
}

TEST(ToolCallParser, ArgumentsAsJsonStringAreParsed) {
  const auto e = parse(tagged(), R"(<tool_call>{"name": "f", "arguments": "{\"a\": [1, 2]}"}</tool_call>)");
  ASSERT_EQ(e.calls.size(), 1u);
  EXPECT_EQ(e.calls[0].arguments, ojson::parse(R"({"a": [1, 2]})"));
}

TEST(ToolCallParser, OpenAiShapeAccepted) {
  const auto e = parse(tagged(), R"(<tool_call>{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}</tool_call>)");
  ASSERT_EQ(e.calls.size(), 1u);
  EXPECT_EQ(e.calls[0].name, "f");
  EXPECT_EQ(e.calls[0].arguments, ojson::parse(R"({"x": 1})"));
}

TEST(ToolCallParser, MalformedJsonBecomesContentByteForByte) {
  for (const std::string text : {
           R"(<tool_call>{"name": "f", "arguments": {"a": 1,}}</tool_call>)",   // trailing comma
           R"(<tool_call>{"name": "f", "arguments": {"a": tru}}</tool_call>)",  // bad literal
           R"(<tool_call>{"name": "f", "arguments": [1, 2]}</tool_call>)",      // arguments not an object
           R"(<tool_call>{"arguments": {"a": 1}}</tool_call>)",                 // no name
           R"(<tool_call>{"name": 7, "arguments": {}}</tool_call>)",            // name not a string
           R"(<tool_call> is how I would call a tool)",                         // no JSON after the tag
           R"(<tool_call>{"name": "f", "arguments": {"a": "})",                 // unfinished at the end
           R"(<tool_call>)",                                                    // only the tag
       }) {
    const auto e = parse(tagged(), text);
    EXPECT_EQ(e.content, text);
    EXPECT_TRUE(e.calls.empty()) << text;
  }
}

TEST(ToolCallParser, MalformedCallDoesNotHideLaterCalls) {
  const std::string bad = R"(<tool_call>{"name": "f", "arguments": {"a": 1,}}</tool_call>)";
  const auto e = parse(tagged(), bad + "\n<tool_call>" + kWeather + "</tool_call>");
  EXPECT_EQ(e.content, bad + "\n");
  ASSERT_EQ(e.calls.size(), 1u);
  EXPECT_EQ(e.calls[0].name, "get_weather");
  EXPECT_EQ(e.calls[0].index, 0);
}

TEST(ToolCallParser, UnknownToolNameIsContentAsInOllama) {
  const std::string text = "<tool_call>\n" + kWeather + "\n</tool_call>";
  const auto unknown = parse(tagged(), text, {"get_time", "search"});
  EXPECT_EQ(unknown.content, text);
  EXPECT_TRUE(unknown.calls.empty());
  const auto known = parse(tagged(), text, {"get_time", "get_weather"});
  EXPECT_EQ(known.content, "");
  EXPECT_EQ(known.calls.size(), 1u);
}

TEST(ToolCallParser, MissingCloseTagStillACall) {
  const auto e = parse(tagged(), "<tool_call>\n" + kWeather + "\n<tool_call>" + kWeather + "</tool_call>");
  EXPECT_EQ(e.content, "");
  EXPECT_EQ(e.calls.size(), 2u);
  const auto last = parse(tagged(), "<tool_call>\n" + kWeather + "\n");
  EXPECT_EQ(last.content, "");
  EXPECT_EQ(last.calls.size(), 1u);
}

TEST(ToolCallParser, SeveralObjectsInOneBlock) {
  const auto e = parse(tagged(), "<tool_call>\n" + kWeather + "\n" + kWeather + "\n</tool_call>");
  EXPECT_EQ(e.content, "");
  EXPECT_EQ(e.calls.size(), 2u);
}

TEST(ToolCallParser, MissingArgumentsBehindATagMeansEmpty) {
  const auto e = parse(tagged(), R"(<tool_call>{"name": "list_files"}</tool_call>)");
  ASSERT_EQ(e.calls.size(), 1u);
  EXPECT_EQ(e.calls[0].arguments, ojson::object());
}

TEST(ToolCallParser, StreamingReleasesContentAtOnceAndHoldsOnlyAMarkerPrefix) {
  ToolCallParser p(tagged());
  EXPECT_EQ(p.feed("Hello wor").content, "Hello wor");
  EXPECT_EQ(p.feed("ld <to").content, "ld ");  // "<to" may begin <tool_call>
  EXPECT_EQ(p.held(), 3u);
  EXPECT_EQ(p.feed("day> is").content, "<today> is");
  EXPECT_EQ(p.feed(" <tool_call").content, " ");
  auto o = p.feed(">\n" + kWeather.substr(0, 20));
  EXPECT_TRUE(o.empty());
  o = p.feed(kWeather.substr(20) + "\n</tool");
  ASSERT_EQ(o.calls.size(), 1u);  // complete at its closing brace
  EXPECT_EQ(o.calls[0].content_before, std::string("Hello world <today> is ").size());
  EXPECT_TRUE(p.feed("_call>").empty());
  EXPECT_TRUE(p.finish().empty());
}

TEST(ToolCallParser, PartialMarkerAtTheEndIsContent) {
  ToolCallParser p(tagged());
  EXPECT_EQ(p.feed("a < b and <tool_").content, "a < b and ");
  EXPECT_EQ(p.finish().content, "<tool_");
}

TEST(ToolCallParser, Utf8HeldUntilComplete) {
  ToolCallParser p(tagged());
  EXPECT_EQ(p.feed("caf\xC3").content, "caf");
  EXPECT_EQ(p.feed("\xA9 \xE4\xB8").content, "\xC3\xA9 ");
  EXPECT_EQ(p.feed("\x96").content, "\xE4\xB8\x96");
  EXPECT_EQ(p.feed("Voil\xC3\xA0 \xE2\x98\x83 \xF0\x9F\x8E\x89 ").content, "Voil\xC3\xA0 \xE2\x98\x83 \xF0\x9F\x8E\x89 ");
  EXPECT_TRUE(p.finish().empty());
}

TEST(ToolCallParser, TaggedFormatTakesABareLeadingCall) {
  // Qwen's template asks for <tool_call> tags; small models often leave them out.
  const auto e = parse(tagged(), "\n" + kWeather, {"get_weather"});
  EXPECT_EQ(e.content, "");
  ASSERT_EQ(e.calls.size(), 1u);
  EXPECT_EQ(e.calls[0].arguments, kWeatherArgs);
  // A bare object needs its arguments and a known tool; otherwise it is the answer.
  for (const std::string& text : {std::string(R"({"name": "get_weather"})"), std::string(R"({"city": "Paris"})"),
                                 kWeather + " and more"}) {
    const auto a = parse(tagged(), text, {"get_time"});
    EXPECT_TRUE(a.calls.empty()) << text;
    EXPECT_EQ(a.content, text);
  }
  // Only at the start: after other text, a bare object is content.
  const auto late = parse(tagged(), "Sure: " + kWeather);
  EXPECT_TRUE(late.calls.empty());
  EXPECT_EQ(late.content, "Sure: " + kWeather);
}

TEST(ToolCallParser, FencedLeadingCall) {
  // What Qwen2.5-Coder-0.5B writes when given tools.
  for (const std::string open : {"```json\n", "```\n", "```json ", " \n```json\n\n"}) {
    for (const auto& format : {tagged(), generic_tool_call_format()}) {
      const auto e = parse(format, open + kWeather + "\n```\nDone.");
      ASSERT_EQ(e.calls.size(), 1u) << open;
      EXPECT_EQ(e.calls[0].name, "get_weather");
      EXPECT_EQ(e.calls[0].arguments, kWeatherArgs);
      EXPECT_EQ(e.content, "\nDone.") << open;
    }
  }
  // Unclosed fence: the call stands.
  EXPECT_EQ(parse(tagged(), "```json\n" + kWeather).calls.size(), 1u);
  // Fences that hold no call are content, byte for byte.
  for (const std::string& text : {std::string("```json\n{\"city\": \"Paris\"}\n```"),
                                 std::string("```python\nprint({1: 2})\n```"), std::string("```jsonx {}```"),
                                 std::string("``` not json"), std::string("``")}) {
    const auto e = parse(tagged(), text);
    EXPECT_TRUE(e.calls.empty()) << text;
    EXPECT_EQ(e.content, text);
  }
}

TEST(ToolCallParser, PlainAnswerPassesThrough) {
  const std::string text = "  The capital of France is Paris. {Not JSON} [x] <b>bold</b>\n";
  EXPECT_EQ(parse(tagged(), text).content, text);
  EXPECT_EQ(parse(mistral_array(), text).content, text);
  EXPECT_EQ(parse(mistral_args(), text).content, text);
  EXPECT_EQ(parse(llama(), text).content, text);
  EXPECT_EQ(parse(generic_tool_call_format(), text).content, text);
}

TEST(ToolCallParser, LlamaWholeMessageJson) {
  const std::string call = R"({"name": "get_weather", "parameters": {"city": "Paris", "unit": "celsius"}})";
  for (const std::string prefix : {"", "<|python_tag|>", "\n  ", "<|python_tag|> "}) {
    const auto e = parse(llama(), prefix + call);
    EXPECT_EQ(e.content, "") << prefix;
    ASSERT_EQ(e.calls.size(), 1u) << prefix;
    EXPECT_EQ(e.calls[0].arguments, kWeatherArgs);
  }
}

TEST(ToolCallParser, LeadingJsonOnlyAtTheStart) {
  const std::string call = R"({"name": "get_weather", "parameters": {"city": "Paris"}})";
  const auto late = parse(llama(), "Sure: " + call);
  EXPECT_EQ(late.content, "Sure: " + call);
  EXPECT_TRUE(late.calls.empty());
  const auto after = parse(llama(), call + " Hope that helps.");
  EXPECT_EQ(after.calls.size(), 1u);
  EXPECT_EQ(after.content, " Hope that helps.");
}

TEST(ToolCallParser, LeadingJsonThatIsNotACallIsContent) {
  for (const std::string text : {R"({"name": "Bob", "age": 3})", R"({"name": "f"})", R"([1, 2, 3])", R"([])",
                                 R"({"name": "f", "parameters": {}} trailing)"}) {
    const auto e = parse(generic_tool_call_format(), text);
    if (e.calls.empty()) {
      EXPECT_EQ(e.content, text);
    } else {
      EXPECT_EQ(e.content, " trailing");
    }
  }
}

TEST(ToolCallParser, LeadingJsonArrayOfCalls) {
  const auto e = parse(generic_tool_call_format(),
                       R"([{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {}}])");
  EXPECT_EQ(e.content, "");
  ASSERT_EQ(e.calls.size(), 2u);
  EXPECT_EQ(e.calls[1].name, "b");
  // One bad element: the whole array is content.
  const std::string bad = R"([{"name": "a", "arguments": {"x": 1}}, {"nom": "b"}])";
  EXPECT_EQ(parse(generic_tool_call_format(), bad).content, bad);
}

TEST(ToolCallParser, LeadingJsonHeldWhileItCouldBeACall) {
  ToolCallParser p(llama());
  EXPECT_TRUE(p.feed("  {\"name\": \"get_weather\", ").empty());
  EXPECT_TRUE(p.feed("\"parameters\": {\"city\": \"Paris\"}").empty());
  const auto o = p.feed("}");
  ASSERT_EQ(o.calls.size(), 1u);
  ToolCallParser q(llama());
  EXPECT_EQ(q.feed("Hi").content, "Hi");  // decided at the first letter
  EXPECT_EQ(q.feed(" {").content, " {");
}

TEST(ToolCallParser, MistralArrayWithIds) {
  const auto e = parse(mistral_array(),
                       R"([TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}, "id": "abcDEF123"}, )"
                       R"({"name": "get_time", "arguments": {}, "id": "zyx987WVU"}])");
  EXPECT_EQ(e.content, "");
  ASSERT_EQ(e.calls.size(), 2u);
  EXPECT_EQ(e.calls[0].id, "abcDEF123");
  EXPECT_EQ(e.calls[0].arguments, kWeatherArgs);
  EXPECT_EQ(e.calls[1].id, "zyx987WVU");
  EXPECT_EQ(e.calls[1].index, 1);
}

TEST(ToolCallParser, MistralArrayVariants) {
  const auto tight = parse(mistral_array(), "Sure.[TOOL_CALLS][" + kWeather + "]");
  EXPECT_EQ(tight.content, "Sure.");
  EXPECT_EQ(tight.calls.size(), 1u);
  const auto object = parse(mistral_array(), "[TOOL_CALLS] " + kWeather);
  EXPECT_EQ(object.content, "");
  EXPECT_EQ(object.calls.size(), 1u);
  const std::string bad = "[TOOL_CALLS] [" + kWeather + ", {\"name\": 1}]";
  EXPECT_EQ(parse(mistral_array(), bad).content, bad);
}

TEST(ToolCallParser, MistralArgsForm) {
  const auto e = parse(mistral_args(), R"([TOOL_CALLS]get_weather[ARGS]{"city": "Paris", "unit": "celsius"})"
                                       R"([TOOL_CALLS]run[ARGS])" + kTrickyArgs);
  EXPECT_EQ(e.content, "");
  ASSERT_EQ(e.calls.size(), 2u);
  EXPECT_EQ(e.calls[0].name, "get_weather");
  EXPECT_EQ(e.calls[0].arguments, kWeatherArgs);
  EXPECT_EQ(e.calls[1].arguments, ojson::parse(kTrickyArgs));
}

TEST(ToolCallParser, MistralArgsWithCallId) {
  const auto e = parse(mistral_args(true), R"(Checking.[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Paris", "unit": "celsius"})");
  EXPECT_EQ(e.content, "Checking.");
  ASSERT_EQ(e.calls.size(), 1u);
  EXPECT_EQ(e.calls[0].id, "a1b2c3d4e");
  EXPECT_EQ(e.calls[0].name, "get_weather");
}

TEST(ToolCallParser, MistralArgsMalformed) {
  for (const std::string text : {R"([TOOL_CALLS]get weather[ARGS]{})", R"([TOOL_CALLS][ARGS]{})",
                                 R"([TOOL_CALLS]f[ARGS] "x")", R"([TOOL_CALLS]f[ARGS]{"a": )",
                                 R"([TOOL_CALLS]get_weather)"}) {
    const auto e = parse(mistral_args(), text);
    EXPECT_EQ(e.content, text);
    EXPECT_TRUE(e.calls.empty()) << text;
  }
  const auto unknown = parse(mistral_args(), R"([TOOL_CALLS]rm[ARGS]{"path": "/"})", {"get_weather"});
  EXPECT_EQ(unknown.content, R"([TOOL_CALLS]rm[ARGS]{"path": "/"})");
}

TEST(ToolCallParser, IdsAreReproducibleFromTheSeed) {
  const std::string text = "<tool_call>" + kWeather + "</tool_call><tool_call>" + kWeather + "</tool_call>";
  ToolCallParser a(tagged(), {}, 42), b(tagged(), {}, 42), c(tagged(), {}, 43);
  const auto ea = run(a, {text}), eb = run(b, {text}), ec = run(c, {text});
  ASSERT_EQ(ea.calls.size(), 2u);
  EXPECT_EQ(ea.calls[0].id, eb.calls[0].id);
  EXPECT_EQ(ea.calls[1].id, eb.calls[1].id);
  EXPECT_NE(ea.calls[0].id, ec.calls[0].id);
  EXPECT_NE(ea.calls[0].id, ea.calls[1].id);
}

TEST(ToolCallParser, FormatWithoutMarkerFallsBackToGeneric) {
  ToolCallFormat broken;
  broken.syntax = ToolCallSyntax::kTagged;  // but no open tag
  const auto e = parse(broken, kWeather);
  EXPECT_EQ(e.calls.size(), 1u);
}

TEST(ToolCallParser, WhitespaceOnlyAnswerIsKept) {
  EXPECT_EQ(parse(tagged(), " \n ").content, " \n ");
  EXPECT_EQ(parse(llama(), "\n").content, "\n");
}

}  // namespace
}  // namespace kiln::engine
