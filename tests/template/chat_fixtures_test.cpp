// Every chat template x conversation rendered by Python (jinja2 configured
// as transformers does, cross-checked with transformers itself) must render
// byte-identically here, or fail where Python failed.
#include <gtest/gtest.h>

#include "fixture_util.h"
#include "template/chat_template.h"

namespace kiln::tmpl {
namespace {

using testing::fixed_now;
using testing::fixture_path;
using testing::load_fixture;
using testing::read_file;

std::string template_source(const nlohmann::ordered_json& c) {
  std::string file = read_file(fixture_path("../../" + c["file"].get<std::string>()));
  if (!c["builtin"].get<bool>()) return file;
  auto builtin = builtin_chat_template(c["template"].get<std::string>());
  if (!builtin) throw std::runtime_error("no builtin template " + c["template"].get<std::string>());
  if (*builtin != file) throw std::runtime_error("embedded template differs from " + c["file"].get<std::string>());
  return *builtin;
}

TEST(ChatTemplateFixtures, AllCasesMatchPython) {
  auto fixture = load_fixture("chat_cases.json");
  const auto& cases = fixture["cases"];
  ASSERT_GT(cases.size(), 400u);
  size_t rendered = 0, errors = 0;
  for (const auto& c : cases) {
    std::string label = c["template"].get<std::string>() + " / " + c["conversation"].get<std::string>() +
                        (c["add_generation_prompt"].get<bool>() ? " +gen" : "");
    ChatTemplate chat(template_source(c), c["bos_token"].get<std::string>(), c["eos_token"].get<std::string>());
    chat.set_clock(fixed_now);
    ChatInputs inputs;
    inputs.messages = c["messages"];
    inputs.tools = c["tools"];
    inputs.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    inputs.extra_context = c["extra"];
    if (c.contains("expected")) {
      try {
        std::string out = chat.render(inputs);
        EXPECT_EQ(out, c["expected"].get<std::string>()) << label;
        ++rendered;
      } catch (const std::exception& e) {
        ADD_FAILURE() << label << ": unexpected error: " << e.what();
      }
      continue;
    }
    const auto& error = c["error"];
    try {
      std::string out = chat.render(inputs);
      ADD_FAILURE() << label << ": rendered, but Python failed with " << error.dump() << "\n" << out;
    } catch (const TemplateRaised& e) {
      EXPECT_EQ(error["type"], "TemplateError") << label << ": " << e.what();
      EXPECT_EQ(std::string(e.what()), error["message"].get<std::string>()) << label;
      ++errors;
    } catch (const TemplateError& e) {
      EXPECT_NE(error["type"], "TemplateError") << label << ": expected raise_exception, got " << e.what();
      if (error["line"].is_number()) {
        EXPECT_EQ(e.line(), error["line"].get<int>()) << label << ": " << e.what();
      }
      ++errors;
    }
  }
  EXPECT_EQ(rendered + errors, cases.size());
  std::cout << "[ chat fixtures ] " << rendered << " rendered byte-identically, " << errors
            << " failed as in Python, of " << cases.size() << "\n";
}

}  // namespace
}  // namespace kiln::tmpl
