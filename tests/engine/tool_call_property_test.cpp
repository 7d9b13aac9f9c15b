// The cut property of the streaming tool-call parser: every way of cutting
// a model's output into pieces gives the same events (content, calls, ids,
// where each call falls in the content) as feeding it whole. Exhaustive over
// all cuttings for short outputs; for longer ones every 2- and 3-piece cut,
// byte by byte, and random cuttings. Also: random byte soup never throws,
// and the content plus the calls' text always accounts for every input byte
// that was not whitespace around a call.
#include "engine/tool_call_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace kiln::engine {
namespace {

struct Events {
  std::string content;
  std::vector<ToolCall> calls;
  bool operator==(const Events&) const = default;
};

Events run(const ToolCallFormat& f, const std::vector<std::string>& pieces, const std::vector<std::string>& names) {
  ToolCallParser p(f, names, 1234);
  Events e;
  const auto add = [&](ToolCallParser::Output o) {
    e.content += o.content;
    for (auto& c : o.calls) e.calls.push_back(std::move(c));
  };
  for (const auto& piece : pieces) add(p.feed(piece));
  add(p.finish());
  return e;
}

std::vector<std::string> cut(const std::string& text, const std::vector<size_t>& at) {
  std::vector<std::string> pieces;
  size_t from = 0;
  for (size_t c : at) {
    pieces.push_back(text.substr(from, c - from));
    from = c;
  }
  pieces.push_back(text.substr(from));
  return pieces;
}

struct Case {
  const char* label;
  ToolCallFormat format;
  std::string text;
  std::vector<std::string> names;
};

ToolCallFormat make(ToolCallSyntax s, std::string open, std::string close = "", std::string args = "",
                    std::string id = "") {
  ToolCallFormat f;
  f.syntax = s;
  f.open = std::move(open);
  f.close = std::move(close);
  f.args_marker = std::move(args);
  f.id_marker = std::move(id);
  return f;
}

std::vector<Case> corpus() {
  const auto tagged = make(ToolCallSyntax::kTagged, "<tool_call>", "</tool_call>");
  const auto array = make(ToolCallSyntax::kMarkerArray, "[TOOL_CALLS]");
  const auto args = make(ToolCallSyntax::kMarkerArgs, "[TOOL_CALLS]", "", "[ARGS]", "[CALL_ID]");
  auto llama = make(ToolCallSyntax::kLeadingJson, "<|python_tag|>");
  llama.arguments_key = "parameters";
  const auto generic = generic_tool_call_format();
  const auto short_tagged = make(ToolCallSyntax::kTagged, "<t>", "</t>");
  const auto short_args = make(ToolCallSyntax::kMarkerArgs, "[T]", "", "[A]", "[I]");
  const auto short_llama = make(ToolCallSyntax::kLeadingJson, "<p>");
  const std::string w = R"({"name": "get_weather", "arguments": {"city": "Paris"}})";
  const std::string tricky =
      R"({"name": "run", "arguments": {"s": "a}b{c\"d\\", "u": "\u00e9\ud83d\ude00 \u4e16", "n": [[{}], {"x": "]"}]}})";
  return {
      // short (every cutting), with short markers to fit
      {"tagged-min", short_tagged, R"(a<t>{"name":"f"})", {}},
      {"tagged-text", short_tagged, "a<t>b</t>c<t>", {}},
      {"tagged-close", short_tagged, "<t>{\"name\":1}</t", {}},
      {"args-min", short_args, "x[T]f[A]{}[T]g", {}},
      {"args-id", short_args, "[T]f[I]7[A]{}", {}},
      {"llama-min", short_llama, " <p>[{\"name\":\"f", {}},
      {"utf8", tagged, "\xC3\xA9<tool\xE2\x98\x83", {}},
      // longer
      {"tagged-two", tagged, "\n<tool_call>\n" + w + "\n</tool_call>\n<tool_call>\n" + tricky + "\n</tool_call>\n", {}},
      {"tagged-content", tagged, "Sure \xE2\x80\x94 checking <tool_call> now.\n<tool_call>" + w + "</tool_call>\nDone <", {}},
      {"tagged-bad", tagged, "<tool_call>{\"name\": \"f\", \"arguments\": {,}}</tool_call> <tool_call>" + w, {}},
      {"tagged-unknown", tagged, "<tool_call>" + w + "</tool_call><tool_call>" + tricky + "</tool_call>", {"run"}},
      {"tagged-block", tagged, "<tool_call>" + w + " " + w + "<tool_call>" + w + "</tool_c", {}},
      {"tagged-open", tagged, "<tool_call>" + tricky.substr(0, 40), {}},
      {"llama-obj", llama, R"( {"name":"f","parameters":{}})", {}},
      {"array-min", array, "x[TOOL_CALLS][{\"name\":\"g\"}]", {}},
      {"array", array, "Calling.[TOOL_CALLS] [" + w + ", " + tricky + "] and [TOOL_CALLS] {\"x\": 1}", {}},
      {"args", args, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]run[CALL_ID]abc123xyz[ARGS]" +
                         tricky.substr(29, tricky.size() - 30) + "[TOOL_CALLS]bad name[ARGS]{}", {}},
      {"llama", llama, "<|python_tag|>" + tricky, {}},
      {"llama-text", llama, "<|python_ta is not it " + w, {}},
      {"generic-array", generic, "  [" + w + ",\n " + w + "]\n\nThat's all. " + w, {}},
      {"fence-min", short_tagged, "```json {\"name\":\"f\",\"arguments\":{}}\n```x", {}},
      {"fence-js", short_tagged, "```js {\"a\":1}```", {}},
      {"tagged-bare", tagged, "  " + w + "\n<tool_call>" + w + "</tool_call>", {}},
      {"tagged-fence", tagged, "```json\n" + w + "\n```\nDone.", {"get_weather"}},
      {"tagged-fence-not-call", tagged, "```json\n{\"city\": \"Paris\"}\n```", {}},
      {"tagged-fence-code", tagged, "```python\nprint({1: 2})\n```", {}},
      {"llama-fence", llama, "```\n" + tricky + "```", {}},
      {"generic-not-call", generic, R"({"name": "Bob", "age": 3} and {"name": "f", "arguments": {}})", {}},
  };
}

void expect_cut_invariant(const Case& c) {
  const Events whole = run(c.format, {c.text}, c.names);
  const size_t n = c.text.size();
  if (n <= 16) {
    for (uint32_t mask = 0; mask < (1u << (n - 1)); ++mask) {
      std::vector<size_t> at;
      for (size_t i = 1; i < n; ++i)
        if (mask >> (i - 1) & 1) at.push_back(i);
      ASSERT_EQ(run(c.format, cut(c.text, at), c.names), whole) << c.label << " mask " << mask;
    }
    return;
  }
  for (size_t i = 0; i <= n; ++i)
    for (size_t j = i; j <= n; ++j)
      ASSERT_EQ(run(c.format, cut(c.text, {i, j}), c.names), whole) << c.label << " cut " << i << "," << j;
  std::vector<size_t> every;
  for (size_t i = 1; i < n; ++i) every.push_back(i);
  ASSERT_EQ(run(c.format, cut(c.text, every), c.names), whole) << c.label << " byte by byte";
  std::mt19937 rng(99);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<size_t> at;
    for (size_t i = 0; i < n;) {
      i += std::uniform_int_distribution<size_t>(1, 8)(rng);
      if (i < n) at.push_back(i);
    }
    ASSERT_EQ(run(c.format, cut(c.text, at), c.names), whole) << c.label << " trial " << trial;
  }
}

TEST(ToolCallProperty, AnyCutGivesTheSameEvents) {
  for (const auto& c : corpus()) {
    SCOPED_TRACE(c.label);
    expect_cut_invariant(c);
  }
}

TEST(ToolCallProperty, CorpusHasCallsAndContent) {
  // Guards the property test against a corpus that exercises nothing.
  size_t calls = 0, with_content = 0;
  for (const auto& c : corpus()) {
    const Events e = run(c.format, {c.text}, c.names);
    calls += e.calls.size();
    with_content += !e.content.empty();
  }
  EXPECT_GE(calls, 15u);
  EXPECT_GE(with_content, 10u);
}

// Nothing is lost: with no calls found, the content is the input exactly.
// Random soups of marker fragments, brackets, quotes and UTF-8 bytes.
TEST(ToolCallProperty, RandomTextNeverThrowsAndIsKept) {
  const std::vector<std::string> atoms = {"<tool_call>", "</tool_call>", "[TOOL_CALLS]", "[ARGS]", "<|python_tag|>",
                                          "{", "}", "[", "]", "\"", "\\", ":", ",", " ", "\n", "name", "\"name\"",
                                          "\"arguments\"", "\xC3\xA9", "\xF0\x9F", "\x8E\x89", "<", "[TOOL", "x"};
  const std::vector<ToolCallFormat> formats = {
      make(ToolCallSyntax::kTagged, "<tool_call>", "</tool_call>"), make(ToolCallSyntax::kMarkerArray, "[TOOL_CALLS]"),
      make(ToolCallSyntax::kMarkerArgs, "[TOOL_CALLS]", "", "[ARGS]"), make(ToolCallSyntax::kLeadingJson, "<|python_tag|>")};
  std::mt19937 rng(5);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text;
    const int len = std::uniform_int_distribution<int>(0, 30)(rng);
    for (int i = 0; i < len; ++i) text += atoms[std::uniform_int_distribution<size_t>(0, atoms.size() - 1)(rng)];
    for (const auto& f : formats) {
      std::vector<size_t> at;
      for (size_t i = 0; i < text.size();) {
        i += std::uniform_int_distribution<size_t>(1, 5)(rng);
        if (i < text.size()) at.push_back(i);
      }
      Events whole, pieces;
      ASSERT_NO_THROW(whole = run(f, {text}, {}));
      ASSERT_NO_THROW(pieces = run(f, cut(text, at), {}));
      ASSERT_EQ(pieces, whole) << text;
      if (whole.calls.empty()) {
        ASSERT_EQ(whole.content, text);
      }
    }
  }
}

}  // namespace
}  // namespace kiln::engine
