// One small template per Jinja construct (whitespace control, literals,
// operators, statements, tests, filters, methods, globals, errors), each
// rendered by Python's jinja2 in transformers' environment. Outputs must be
// byte-identical; errors must happen on the same template line.
#include <gtest/gtest.h>

#include "fixture_util.h"
#include "template/template.h"

namespace kiln::tmpl {
namespace {

class ConstructFixtures : public ::testing::TestWithParam<nlohmann::ordered_json> {};

TEST_P(ConstructFixtures, MatchesPython) {
  const auto& c = GetParam();
  const std::string source = c["template"].get<std::string>();
  if (c.contains("expected")) {
    std::string out;
    try {
      out = Template(source).render(c["context"], testing::fixed_now);
    } catch (const std::exception& e) {
      FAIL() << "unexpected error: " << e.what();
    }
    EXPECT_EQ(out, c["expected"].get<std::string>());
    return;
  }
  const auto& error = c["error"];
  try {
    std::string out = Template(source).render(c["context"], testing::fixed_now);
    FAIL() << "rendered '" << out << "' but Python failed with " << error.dump();
  } catch (const TemplateRaised& e) {
    EXPECT_EQ(error["type"], "TemplateError") << e.what();
    EXPECT_EQ(std::string(e.what()), error["message"].get<std::string>());
    EXPECT_EQ(e.line(), error["line"].get<int>());
  } catch (const TemplateError& e) {
    EXPECT_NE(error["type"], "TemplateError") << "expected raise_exception, got " << e.what();
    if (error["line"].is_number()) {
      EXPECT_EQ(e.line(), error["line"].get<int>()) << e.what();
    }
    // The message names where: "chat template line L, column C: ...".
    EXPECT_NE(std::string(e.what()).find("line " + std::to_string(e.line()) + ", column "), std::string::npos);
  }
}

std::vector<nlohmann::ordered_json> construct_cases() {
  std::vector<nlohmann::ordered_json> cases;
  const auto fixture = testing::load_fixture("construct_cases.json");  // must outlive the loop
  for (const auto& c : fixture["cases"]) cases.push_back(c);
  return cases;
}

std::string case_name(const ::testing::TestParamInfo<nlohmann::ordered_json>& info) {
  std::string name;
  for (char ch : info.param["name"].get<std::string>()) name.push_back(std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Jinja, ConstructFixtures, ::testing::ValuesIn(construct_cases()), case_name);

}  // namespace
}  // namespace kiln::tmpl
