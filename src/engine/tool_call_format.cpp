#include "engine/tool_call_format.h"

#include <exception>
#include <optional>

#include <nlohmann/json.hpp>

#include "engine/tool_call_scan.h"
#include "template/chat_template.h"

namespace kiln::engine {
namespace {

using ojson = nlohmann::ordered_json;

// Sentinels that no template writes by itself. The id has 9 alphanumerics
// because Mistral's templates raise on any other length.
constexpr std::string_view kProbeName = "kiln_probe_fn";
constexpr std::string_view kProbeArg = "kiln_probe_arg";
constexpr std::string_view kProbeValue = "kiln_probe_value";
constexpr std::string_view kProbeId = "kilnprb01";

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The last tag-like token of `s`: <...>, <|...|> or [...]; failing that, the
// last whitespace-separated word (e.g. "functools").
std::string last_tag(std::string_view s) {
  s = trim(s);
  if (s.empty()) return {};
  const char last = s.back();
  const char opener = last == '>' ? '<' : last == ']' ? '[' : 0;
  if (opener) {
    const size_t at = s.rfind(opener);
    if (at != std::string_view::npos) return std::string(s.substr(at));
  }
  size_t at = s.size();
  while (at > 0 && !is_space(s[at - 1])) --at;
  return std::string(s.substr(at));
}

struct Probe {
  std::string generated;  // what the model would generate for the probe call
};

std::optional<Probe> render_probe(std::string_view source, std::string_view bos, std::string_view eos) {
  try {
    tmpl::ChatTemplate chat(source, std::string(bos), std::string(eos));
    ojson args = ojson::object();
    args[std::string(kProbeArg)] = std::string(kProbeValue);
    const ojson tool = {
        {"type", "function"},
        {"function",
         {{"name", std::string(kProbeName)},
          {"description", "kiln probe"},
          {"parameters",
           {{"type", "object"},
            {"properties", {{std::string(kProbeArg), {{"type", "string"}}}}},
            {"required", ojson::array({std::string(kProbeArg)})}}}}}};
    const ojson user = {{"role", "user"}, {"content", "kiln probe question"}};
    const ojson call = {{"id", std::string(kProbeId)},
                        {"type", "function"},
                        {"function", {{"name", std::string(kProbeName)}, {"arguments", args}}}};
    const ojson assistant = {{"role", "assistant"}, {"content", ""}, {"tool_calls", ojson::array({call})}};

    tmpl::ChatInputs prompt;
    prompt.messages = ojson::array({user});
    prompt.tools = ojson::array({tool});
    prompt.add_generation_prompt = true;
    tmpl::ChatInputs answered = prompt;
    answered.messages.push_back(assistant);
    answered.add_generation_prompt = false;

    const std::string g = chat.render(prompt);
    const std::string a = chat.render(answered);
    size_t common = 0;
    while (common < g.size() && common < a.size() && g[common] == a[common]) ++common;
    return Probe{a.substr(common)};
  } catch (const std::exception&) {
    // A template that cannot render the probe (it raises on the conversation,
    // or does not parse) still gets a format, from its text.
    return std::nullopt;
  }
}

bool is_probe_args(const ojson& v) {
  if (v.is_string()) {
    const auto parsed = ojson::parse(v.get<std::string>(), nullptr, false);
    return !parsed.is_discarded() && is_probe_args(parsed);
  }
  return v.is_object() && v.size() == 1 && v.contains(std::string(kProbeArg)) &&
         v[std::string(kProbeArg)] == std::string(kProbeValue);
}

// The format read off the probe's generated text; nullopt when it holds no
// recognizable call.
std::optional<ToolCallFormat> from_probe(std::string_view t, std::string_view source) {
  const size_t name_at = t.rfind(kProbeName);  // after any tool schema
  if (name_at == std::string_view::npos) return std::nullopt;
  ToolCallFormat f;
  f.from_template = true;

  if (name_at == 0 || t[name_at - 1] != '"') {
    // The name is bare text: open NAME [id_marker ID] args_marker {args}.
    f.syntax = ToolCallSyntax::kMarkerArgs;
    f.open = last_tag(t.substr(0, name_at));
    const size_t after = name_at + kProbeName.size();
    const size_t brace = t.find('{', after);
    if (f.open.empty() || brace == std::string_view::npos) return std::nullopt;
    std::string_view between = t.substr(after, brace - after);
    if (const size_t id_at = between.find(kProbeId); id_at != std::string_view::npos) {
      f.id_marker = std::string(trim(between.substr(0, id_at)));
      between = between.substr(id_at + kProbeId.size());
    }
    f.args_marker = std::string(trim(between));
    if (f.args_marker.empty()) return std::nullopt;
    return f;
  }

  // The name is a JSON string: find the earliest JSON value around it.
  for (size_t start = 0; start < name_at; ++start) {
    if (t[start] != '{' && t[start] != '[') continue;
    JsonExtent extent;
    size_t end = start;
    bool closed = false;
    for (; end < t.size(); ++end)
      if (extent.feed(t[end])) {
        closed = true;
        break;
      }
    if (!closed || end < name_at) continue;
    const auto value = ojson::parse(t.substr(start, end + 1 - start), nullptr, false);
    if (value.is_discarded()) continue;
    const ojson* object = &value;
    if (value.is_array()) {
      if (value.empty() || !value[0].is_object()) return std::nullopt;
      object = &value[0];
    }
    if (!object->is_object()) return std::nullopt;
    for (const auto& [key, v] : object->items()) {
      if (v.is_string() && v.get<std::string>() == kProbeName) f.name_key = key;
      if (is_probe_args(v)) f.arguments_key = key;
    }
    f.open = last_tag(t.substr(0, start));
    if (f.open.empty()) {
      f.syntax = ToolCallSyntax::kLeadingJson;
      // Llama 3.1+ may put <|python_tag|> before a call (its template writes
      // it for built-in tools); accept it as an optional prefix.
      if (source.find("<|python_tag|>") != std::string_view::npos) f.open = "<|python_tag|>";
      return f;
    }
    if (value.is_array() || f.open.front() == '[') {
      f.syntax = ToolCallSyntax::kMarkerArray;
      return f;
    }
    f.syntax = ToolCallSyntax::kTagged;
    if (f.open.front() == '<') {
      const std::string close = "</" + f.open.substr(1);
      if (t.find(close, end + 1) != std::string_view::npos) f.close = close;
    }
    return f;
  }
  return std::nullopt;
}

// Known markers in the template text, for templates the probe cannot render.
ToolCallFormat from_text(std::string_view source) {
  ToolCallFormat f = generic_tool_call_format();
  const auto has = [&](std::string_view s) { return source.find(s) != std::string_view::npos; };
  if (has("<tool_call>")) {
    f.syntax = ToolCallSyntax::kTagged;
    f.open = "<tool_call>";
    if (has("</tool_call>")) f.close = "</tool_call>";
  } else if (has("[TOOL_CALLS]") && has("[ARGS]")) {
    f.syntax = ToolCallSyntax::kMarkerArgs;
    f.open = "[TOOL_CALLS]";
    f.args_marker = "[ARGS]";
    if (has("[CALL_ID]")) f.id_marker = "[CALL_ID]";
  } else if (has("[TOOL_CALLS]")) {
    f.syntax = ToolCallSyntax::kMarkerArray;
    f.open = "[TOOL_CALLS]";
  } else if (has("<|python_tag|>")) {
    f.open = "<|python_tag|>";
    f.arguments_key = "parameters";
  } else {
    return f;
  }
  f.from_template = true;
  return f;
}

const char* syntax_name(ToolCallSyntax s) {
  switch (s) {
    case ToolCallSyntax::kLeadingJson: return "leading-json";
    case ToolCallSyntax::kTagged: return "tagged";
    case ToolCallSyntax::kMarkerArray: return "marker-array";
    case ToolCallSyntax::kMarkerArgs: return "marker-args";
  }
  return "?";
}

}  // namespace

ToolCallFormat generic_tool_call_format() { return ToolCallFormat{}; }

ToolCallFormat detect_tool_call_format(std::string_view source, std::string_view bos, std::string_view eos) {
  if (const auto probe = render_probe(source, bos, eos))
    if (auto f = from_probe(probe->generated, source)) return *f;
  return from_text(source);
}

std::string ToolCallFormat::describe() const {
  std::string s = syntax_name(syntax);
  if (!open.empty()) s += " open=" + open;
  if (!close.empty()) s += " close=" + close;
  if (!id_marker.empty()) s += " id=" + id_marker;
  if (!args_marker.empty()) s += " args=" + args_marker;
  if (syntax != ToolCallSyntax::kMarkerArgs) s += " keys=" + name_key + "/" + arguments_key;
  s += from_template ? " (from template)" : " (generic)";
  return s;
}

}  // namespace kiln::engine
