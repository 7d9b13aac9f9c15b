// libFuzzer target for the Jinja chat-template parser and renderer: the input
// is a template source, parsed and rendered against a small conversation with
// a tool, as a model's chat template would be. Bad syntax, runtime errors and
// raise_exception() all throw kiln::Error subclasses (TemplateError,
// TemplateRaised); anything else (a crash, a sanitizer report, another
// exception type, unbounded recursion or time) is a bug.
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "template/chat_template.h"

namespace {

const kiln::tmpl::ChatInputs& inputs() {
  static const kiln::tmpl::ChatInputs in = [] {
    kiln::tmpl::ChatInputs in;
    in.messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
      {"role": "assistant", "content": "",
       "tool_calls": [{"id": "c1", "type": "function",
                       "function": {"name": "add", "arguments": {"a": 2, "b": 2}}}]},
      {"role": "tool", "tool_call_id": "c1", "name": "add", "content": "4"},
      {"role": "assistant", "content": "4"}])");
    in.tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {"name": "add",
      "description": "Adds", "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
      "b": {"type": "integer"}}, "required": ["a", "b"]}}}])");
    in.extra_context = {{"enable_thinking", false}};
    return in;
  }();
  return in;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  try {
    kiln::tmpl::ChatTemplate tmpl(source, "<s>", "</s>");
    tmpl.set_clock([] {
      std::tm t{};
      t.tm_year = 126;
      t.tm_mday = 22;
      return t;
    });
    (void)tmpl.render(inputs());
  } catch (const kiln::Error&) {
  }
  return 0;
}
