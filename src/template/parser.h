#pragma once
// Builds the statement tree of a template from its tokens, following the
// grammar and operator precedence of Jinja's parser (jinja2/parser.py), so
// that an expression groups the same way here as in Python.
#include <string_view>

#include "template/ast.h"

namespace kiln::tmpl {

// Throws TemplateError naming the line, column and construct on bad syntax.
Body parse_template(std::string_view source);

}  // namespace kiln::tmpl
