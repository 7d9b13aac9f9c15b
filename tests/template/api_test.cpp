// The interpreter's own contract: where errors point, which exception types
// callers can rely on, the builtin templates, input validation, and that no
// input (however malformed) crashes or hangs the process.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "fixture_util.h"
#include "template/chat_template.h"

namespace kiln::tmpl {
namespace {

TemplateError render_error(const std::string& source, const nlohmann::ordered_json& context = {}) {
  try {
    Template(source).render(context);
  } catch (const TemplateError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for: " << source;
  return TemplateError("none", 0, 0);
}

TEST(TemplateErrors, RuntimeErrorNamesLineColumnAndConstruct) {
  TemplateError e = render_error("first line\n  {{ foo.bar }}");
  EXPECT_EQ(e.line(), 2);
  EXPECT_EQ(e.column(), 9);  // the '.' of foo.bar
  std::string what = e.what();
  EXPECT_NE(what.find("line 2, column 9"), std::string::npos) << what;
  EXPECT_NE(what.find("attribute '.bar'"), std::string::npos) << what;
  EXPECT_NE(what.find("'foo' is undefined"), std::string::npos) << what;
}

TEST(TemplateErrors, SyntaxErrorNamesLineAndColumn) {
  TemplateError e = render_error("ok\nok\n{% for x in %}{% endfor %}");
  EXPECT_EQ(e.line(), 3);
  EXPECT_EQ(e.column(), 13);  // where an expression was expected
  EXPECT_NE(std::string(e.what()).find("Expected an expression"), std::string::npos) << e.what();
}

TEST(TemplateErrors, FilterErrorNamesTheFilter) {
  TemplateError e = render_error("{{ x | tojson }}", {{"y", 1}});
  EXPECT_NE(std::string(e.what()).find("filter 'tojson'"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("not JSON serializable"), std::string::npos) << e.what();
}

TEST(TemplateErrors, UnknownFilterFailsWhenLoading) {
  try {
    Template("\n{{ x | shout }}");
    FAIL() << "loaded a template with an unknown filter";
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_NE(std::string(e.what()).find("No filter named 'shout'"), std::string::npos);
  }
}

TEST(TemplateErrors, RaiseExceptionCarriesTheTemplateMessage) {
  Template t("{% if messages|length == 0 %}\n{{ raise_exception('No messages given!') }}\n{% endif %}");
  try {
    t.render(nlohmann::ordered_json{{"messages", nlohmann::ordered_json::array()}});
    FAIL() << "raise_exception did not raise";
  } catch (const TemplateRaised& e) {
    EXPECT_STREQ(e.what(), "No messages given!");
    EXPECT_EQ(e.line(), 2);
  }
  // A kiln::Error like every other user-facing failure.
  EXPECT_THROW(t.render(nlohmann::ordered_json{{"messages", nlohmann::ordered_json::array()}}), kiln::Error);
}

TEST(TemplateErrors, UnsupportedTagSaysSo) {
  TemplateError e = render_error("{% include 'other.jinja' %}");
  EXPECT_NE(std::string(e.what()).find("'include' tag is not supported"), std::string::npos) << e.what();
}

TEST(TemplateLimits, DeepNestingFailsCleanly) {
  std::string parens = std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_THROW(Template("{{ " + parens + " }}"), TemplateError);
  std::string ifs;
  for (int i = 0; i < 2000; ++i) ifs += "{% if true %}";
  EXPECT_THROW(Template(ifs + "x"), TemplateError);
  std::string nots;
  for (int i = 0; i < 5000; ++i) nots += "not ";
  EXPECT_THROW(Template("{{ " + nots + "x }}"), TemplateError);
}

TEST(TemplateLimits, EndlessMacroRecursionFailsCleanly) {
  Template t("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  try {
    t.render(nlohmann::ordered_json::object());
    FAIL() << "endless recursion rendered";
  } catch (const TemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("recursion"), std::string::npos) << e.what();
  }
}

TEST(TemplateLimits, IntegerOverflowFailsInsteadOfWrapping) {
  EXPECT_THROW(Template("{{ 9223372036854775807 + 1 }}").render(nlohmann::ordered_json::object()), TemplateError);
  EXPECT_THROW(Template("{{ 2 ** 64 }}").render(nlohmann::ordered_json::object()), TemplateError);
  EXPECT_THROW(Template("{{ 99999999999999999999 }}"), TemplateError);
}

// Random edits of real templates: every variant must either render or fail
// with kiln::Error; nothing may crash.
TEST(TemplateRobustness, MutatedTemplatesNeverCrash) {
  std::mt19937 rng(1234);
  const std::string alphabet = "{}%#-+()[]'\".|~:=,!<>*/ \n\tabcdefghijklmnopqrstuvwxyz0123456789_";
  nlohmann::ordered_json messages = nlohmann::ordered_json::parse(
      R"([{"role":"system","content":"sys"},{"role":"user","content":"hi"},)"
      R"({"role":"assistant","content":"yo","tool_calls":[{"id":"abcdefghi","function":{"name":"f","arguments":{"a":1}}}]},)"
      R"({"role":"tool","tool_call_id":"abcdefghi","content":"r"},{"role":"user","content":"again"}])");
  size_t rendered = 0, failed = 0;
  for (const auto& name : builtin_chat_template_names()) {
    const std::string original = *builtin_chat_template(name);
    for (int variant = 0; variant < 400; ++variant) {
      std::string source = original;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < edits && !source.empty(); ++k) {
        size_t at = rng() % source.size();
        switch (rng() % 3) {
          case 0: source.erase(at, 1 + rng() % 3); break;
          case 1: source.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
          default: source[at] = alphabet[rng() % alphabet.size()];
        }
      }
      try {
        ChatTemplate chat(source, "<s>", "</s>");
        ChatInputs inputs;
        inputs.messages = messages;
        chat.render(inputs);
        ++rendered;
      } catch (const kiln::Error&) {
        ++failed;
      }
    }
  }
  EXPECT_GT(rendered, 0u);
  EXPECT_GT(failed, 0u);
}

TEST(TemplateRobustness, ArbitraryBytesNeverCrash) {
  std::mt19937 rng(99);
  for (int i = 0; i < 3000; ++i) {
    std::string source(rng() % 40, '\0');
    for (char& c : source) c = static_cast<char>(rng() % 256);
    if (i % 2) source = "{{" + source + "}}";
    try {
      Template(source).render(nlohmann::ordered_json::object());
    } catch (const kiln::Error&) {
    }
  }
}

TEST(BuiltinTemplates, NamesAndTextsMatchTheJinjaFiles) {
  std::vector<std::string> names = builtin_chat_template_names();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
            (std::set<std::string>{"gemma3", "llama3", "qwen2.5", "mistral"}));
  for (const auto& name : names) {
    auto text = builtin_chat_template(name);
    ASSERT_TRUE(text.has_value()) << name;
    EXPECT_EQ(*text, testing::read_file(testing::fixture_path("../../src/template/builtin/" + name + ".jinja")))
        << name << ": rerun tools/gen_template_fixtures.py";
    EXPECT_NO_THROW(ChatTemplate(*text, "<s>", "</s>")) << name;
  }
  EXPECT_FALSE(builtin_chat_template("no-such-model").has_value());
}

TEST(ChatTemplateInputs, MalformedInputsAreRejectedWithAMessage) {
  ChatTemplate chat(*builtin_chat_template("qwen2.5"), "", "<|im_end|>");
  ChatInputs inputs;
  inputs.messages = nlohmann::ordered_json::object();
  EXPECT_THROW(chat.render(inputs), kiln::Error);
  inputs.messages = nlohmann::ordered_json::parse(R"(["not an object"])");
  EXPECT_THROW(chat.render(inputs), kiln::Error);
  inputs.messages = nlohmann::ordered_json::parse(R"([{"role":"user","content":"hi"}])");
  inputs.tools = nlohmann::ordered_json::object();
  EXPECT_THROW(chat.render(inputs), kiln::Error);
  inputs.tools = nullptr;
  inputs.extra_context = 5;
  EXPECT_THROW(chat.render(inputs), kiln::Error);
}

TEST(ChatTemplateInputs, PlainJsonOverloadRendersLikeOrderedJson) {
  // With keys already in sorted order both input types give the same text.
  const char* messages = R"([{"content":"Hello","role":"user"}])";
  const char* tools = R"([{"function":{"description":"d","name":"f","parameters":{"properties":{},"type":"object"}},"type":"function"}])";
  ChatTemplate chat(*builtin_chat_template("qwen2.5"), "", "<|im_end|>");
  ChatInputs inputs;
  inputs.messages = nlohmann::ordered_json::parse(messages);
  inputs.tools = nlohmann::ordered_json::parse(tools);
  EXPECT_EQ(chat.render(nlohmann::json::parse(messages), nlohmann::json::parse(tools), true), chat.render(inputs));
}

TEST(ChatTemplateInputs, ClockIsInjectable) {
  ChatTemplate chat("{{ strftime_now('%Y-%m-%d') }}");
  chat.set_clock([] {
    std::tm t{};
    t.tm_year = 130;
    t.tm_mon = 0;
    t.tm_mday = 2;
    return t;
  });
  EXPECT_EQ(chat.render(nlohmann::json::array()), "2030-01-02");
}

}  // namespace
}  // namespace kiln::tmpl
