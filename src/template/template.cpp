#include "template/template.h"

#include "template/interpreter.h"
#include "template/parser.h"

namespace kiln::tmpl {

Template::Template(std::string_view source) {
  auto program = std::make_shared<Body>(parse_template(source));
  check_program(*program);
  program_ = std::move(program);
}

std::string Template::render(const ObjectData& context, const Clock& clock) const {
  return render_program(*program_, context, clock);
}

std::string Template::render(const nlohmann::ordered_json& context, const Clock& clock) const {
  if (!context.is_object() && !context.is_null()) throw kiln::Error("template context must be a JSON object");
  ObjectData data;
  if (context.is_object())
    for (auto it = context.begin(); it != context.end(); ++it) data.set(it.key(), Value::from_json(it.value()));
  return render(data, clock);
}

}  // namespace kiln::tmpl
