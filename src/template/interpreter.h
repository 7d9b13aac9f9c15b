#pragma once
// Executes a parsed template. Scoping follows Jinja: `set` at template level
// or inside `if` is visible afterwards; each for-loop iteration, macro call
// and `with` block gets its own scope that reads through to the enclosing
// ones; names not found there come from the render context, then from the
// global functions.
#include <string>

#include "template/ast.h"
#include "template/builtins.h"

namespace kiln::tmpl {

// Fails (TemplateError) if the program names a filter or test that does not
// exist, as Jinja does when it compiles a template.
void check_program(const Body& program);

// Throws TemplateError (or TemplateRaised for raise_exception) with the line
// and column of the failing construct.
std::string render_program(const Body& program, const ObjectData& context, const Clock& clock);

}  // namespace kiln::tmpl
