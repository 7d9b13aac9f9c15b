#pragma once
// A Jinja template, parsed once and rendered many times. This is the
// general interpreter; ChatTemplate (chat_template.h) builds the context a
// model's chat template expects. Rendering matches Python's jinja2 in the
// environment transformers uses (ImmutableSandboxedEnvironment with
// trim_blocks, lstrip_blocks and loop controls).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "template/builtins.h"
#include "template/template_error.h"

namespace kiln::tmpl {

struct Stmt;

class Template {
 public:
  // Parses `source`; throws TemplateError naming line and column on bad syntax
  // or an unknown filter/test.
  explicit Template(std::string_view source);

  // Renders with the top-level variables of `context` (a JSON object; key
  // order is kept, as Python dicts keep it). strftime_now() reads `clock`,
  // the local time when unset. Throws TemplateError, or TemplateRaised when
  // the template calls raise_exception().
  std::string render(const nlohmann::ordered_json& context, const Clock& clock = {}) const;
  std::string render(const ObjectData& context, const Clock& clock = {}) const;

 private:
  std::shared_ptr<const std::vector<std::unique_ptr<Stmt>>> program_;
};

}  // namespace kiln::tmpl
