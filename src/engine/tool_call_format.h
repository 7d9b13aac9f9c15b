#pragma once
// How a model writes a tool call, inferred from its chat template.
//
// Ollama infers the tool-call prefix from the Go template (the first text
// after `{{ if .ToolCalls }}`). Our templates are Jinja (the GGUF's
// tokenizer.chat_template), so we ask the template itself: render a probe
// conversation whose assistant turn holds one tool call with a sentinel name
// and argument, render the same conversation up to the generation prompt,
// and read the format off the difference (the text the model would have to
// generate to make that call):
//
//   <tool_call>\n{"name": P, "arguments": {...}}\n</tool_call>  -> kTagged
//   [TOOL_CALLS] [{"name": P, "arguments": {...}, "id": ...}]  -> kMarkerArray
//   [TOOL_CALLS]P[ARGS]{...}                                    -> kMarkerArgs
//   {"name": P, "parameters": {...}}  (nothing before the JSON) -> kLeadingJson
//
// The marker is the last tag-like token (<...> or [...]) before the JSON (or
// before the bare name), so text a template puts in front of it (an empty
// <think></think> block in Qwen3) is skipped; the closing tag is </X> when the
// opening tag is <X> and the template writes it after the JSON; the key names
// ("name", "arguments" or "parameters") are read from the rendered JSON.
// When the probe cannot be rendered (the template raises on it) or renders no
// tool call, known markers are looked for in the template text instead; a
// template with none of them (gemma3) gets the generic format: a JSON object
// with "name" and "arguments" (or "parameters") at the start of the output.
// docs/tool-calls.md has the whole rule.
#include <string>
#include <string_view>

namespace kiln::engine {

enum class ToolCallSyntax {
  kLeadingJson,   // the message starts with the call's JSON (object or array of objects),
                  // optionally after `open` (Llama's <|python_tag|>)
  kTagged,        // open JSON [close], repeatable, anywhere in the output (Qwen/Hermes)
  kMarkerArray,   // open [JSON, JSON...] or open JSON (Mistral v0.3, Nemo, Small 3.1)
  kMarkerArgs,    // open name [id_marker id] args_marker {arguments} (Mistral Small 3.2)
};

struct ToolCallFormat {
  ToolCallSyntax syntax = ToolCallSyntax::kLeadingJson;
  std::string open;         // "<tool_call>", "[TOOL_CALLS]", "<|python_tag|>" or ""
  std::string close;        // "</tool_call>" for kTagged when the template writes it
  std::string args_marker;  // kMarkerArgs: "[ARGS]"
  std::string id_marker;    // kMarkerArgs, optional: "[CALL_ID]"
  std::string name_key = "name";
  std::string arguments_key = "arguments";  // the parser also accepts "arguments"/"parameters"
  // True when the template renders tool calls (the model "supports tools");
  // false for the generic fallback.
  bool from_template = false;

  std::string describe() const;  // one line, for logs and `kiln show`
};

// The fallback for templates that show no tool-call format.
ToolCallFormat generic_tool_call_format();

// Infers the format from a chat template's source (see above). Never throws
// for a template that parses; a template that does not parse gets the
// text-search fallback.
ToolCallFormat detect_tool_call_format(std::string_view template_source, std::string_view bos_token = "",
                                       std::string_view eos_token = "");

}  // namespace kiln::engine
