#pragma once
// Streaming tool-call parser. Generated text arrives piece by piece; the
// parser releases
//   - content: text that is certainly not part of a tool call, as soon as
//     that is certain (it holds back only a tail that could still grow into
//     the format's opening marker, an incomplete UTF-8 character, or, for
//     formats whose call is a leading JSON value, the value being read), and
//   - tool calls {id, name, arguments}, each when it is complete.
// finish() ends the stream: an unfinished or malformed call is released as
// plain content, byte for byte (never lost, never an exception).
//
// The result never depends on how the text was cut into pieces: every
// decision is made on bytes already seen and, when they are not enough to
// decide, waits for more (tests/engine/tool_call_property_test.cpp checks
// every cut).
//
// Rules (docs/tool-calls.md):
//   - Calls are JSON objects {name, arguments} ("parameters" is accepted too;
//     arguments may be an object or a string holding one; a call may carry
//     an "id", which is kept); the OpenAI shape {"function": {...}} is
//     accepted as well. kLeadingJson also takes an array of calls.
//   - Tool names are checked against the request's tools when a list is
//     given. As in Ollama, a call naming an unknown tool is not a tool call;
//     its text is released as content (Ollama drops text inside tags; we keep
//     it so nothing the model wrote is lost).
//   - Whitespace before the first call, between calls and after the last one
//     is dropped; any other text around calls is content.
//   - For kLeadingJson (Llama, generic) a call counts only at the start of
//     the output (after whitespace), as in Ollama: once other text has been
//     released, everything after is content.
//   - kTagged (Qwen/Hermes) also takes a call written without its tags at
//     the start of the output, and any leading call may sit in a Markdown
//     code fence (```json ... ```): small models often answer so. Such a
//     bare call needs its arguments and a known name (when tools are given),
//     else it is content.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tool_call_format.h"
#include "engine/tool_call_scan.h"

namespace kiln::engine {

struct ToolCall {
  std::string id;                   // from the model (Mistral) or generated: "call_" + 8 [a-z0-9]
  std::string name;
  nlohmann::ordered_json arguments;  // always a JSON object, keys in the model's order
  int index = 0;                    // 0, 1, 2... in the order the calls completed
  // Content bytes released before this call over the whole stream, so a
  // caller can interleave content and calls exactly as generated.
  size_t content_before = 0;

  bool operator==(const ToolCall&) const = default;
};

class ToolCallParser {
 public:
  struct Output {
    std::string content;          // released text, in order
    std::vector<ToolCall> calls;  // completed calls, in order
    bool empty() const { return content.empty() && calls.empty(); }
  };

  // `tool_names`: the request's tools (empty: accept any name). `id_seed`
  // makes generated ids reproducible (the server passes a random one).
  explicit ToolCallParser(ToolCallFormat format, std::vector<std::string> tool_names = {},
                          uint64_t id_seed = 0);

  Output feed(std::string_view piece);
  // End of generation: releases everything still held.
  Output finish();

  int calls_so_far() const { return next_index_; }
  // Bytes held back (tests and debugging).
  size_t held() const { return buf_.size() + raw_.size() + pending_ws_.size(); }

 private:
  enum class State {
    kText,         // content; looking for the opening marker
    kLeadStart,    // kLeadingJson at a boundary: a JSON value may start here
    kAfterOpen,    // after the marker: whitespace, then the JSON (or the name)
    kName,         // kMarkerArgs: the tool name up to args_marker / id_marker
    kId,           // kMarkerArgs: the call id up to args_marker
    kArgsStart,    // kMarkerArgs: whitespace, then the arguments object
    kJson,         // inside the call's JSON value
    kAfterJson,    // kTagged: whitespace, then the closing tag or another object
    kPassthrough,  // kLeadingJson after other text: everything is content
  };

  // One step of the state machine; false when it needs more bytes.
  bool step(bool eof, Output& out);
  void run(bool eof, Output& out);
  void emit_content(std::string_view text, Output& out);
  // The call text read so far is not a call: release it as content.
  void reject(Output& out);
  void complete_json(Output& out);
  bool accept_call(const nlohmann::ordered_json& object, ToolCall& call) const;
  bool known(const std::string& name) const;
  std::string next_id();
  State after_call() const;

  ToolCallFormat format_;
  std::vector<std::string> names_;
  uint64_t id_seed_;

  State state_;
  std::string buf_;         // unconsumed input
  std::string pending_ws_;  // whitespace at a boundary, waiting to see what follows
  std::string raw_;         // the text of the call being read, released as content if it fails
  std::string json_;        // the call's JSON value so far
  std::string name_, id_;   // kMarkerArgs
  JsonExtent extent_;
  bool boundary_ = true;    // at the start, or right after a call
  bool bare_ = false;       // the call being read has no marker (it needs its arguments)
  std::string fence_close_; // "```" after a fenced call, else empty
  int next_index_ = 0;
  size_t content_bytes_ = 0;
};

}  // namespace kiln::engine
