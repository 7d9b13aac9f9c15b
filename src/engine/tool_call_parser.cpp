#include "engine/tool_call_parser.h"

#include <algorithm>
#include <utility>

namespace kiln::engine {
namespace {

using ojson = nlohmann::ordered_json;

// Tool names are identifiers; a byte outside them (or a name longer than any
// real one) means the text after the marker is not a call.
constexpr size_t kMaxName = 256;
bool name_byte(char c) { return !is_space(c) && c != '[' && c != '{' && c != '<' && c != '"'; }

// Moves the whitespace at the front of `from` to the end of `to`.
void take_space(std::string& from, std::string& to) {
  size_t n = 0;
  while (n < from.size() && is_space(from[n])) ++n;
  to.append(from, 0, n);
  from.erase(0, n);
}

// `buf` could still grow into `marker` (it is a proper prefix of it).
bool could_become(std::string_view buf, std::string_view marker) {
  return buf.size() < marker.size() && marker.substr(0, buf.size()) == buf;
}

constexpr std::string_view kFence = "```";

// A Markdown code fence opening a JSON value: "```", an optional "json",
// whitespace, then '{' or '['. Returns the fence's length (the bytes before
// the value) on a match, 0 when `s` cannot be one, npos when more bytes are
// needed to tell.
size_t match_fence(std::string_view s) {
  constexpr std::string_view lang = "json";
  size_t i = 0;
  for (; i < kFence.size(); ++i) {
    if (i == s.size()) return std::string_view::npos;
    if (s[i] != kFence[i]) return 0;
  }
  size_t j = 0;
  while (j < lang.size() && i + j < s.size() && s[i + j] == lang[j]) ++j;
  if (i + j == s.size()) return std::string_view::npos;
  if (j != 0 && j != lang.size()) return 0;
  i += j;
  while (i < s.size() && is_space(s[i])) ++i;
  if (i == s.size()) return std::string_view::npos;
  return s[i] == '{' || s[i] == '[' ? i : 0;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Arguments as a JSON object: an object, or a string that holds one (the
// OpenAI wire form). Anything else is not a call's arguments.
bool to_arguments(const ojson& v, ojson& out) {
  if (v.is_object()) {
    out = v;
    return true;
  }
  if (v.is_string()) {
    auto parsed = ojson::parse(v.get<std::string>(), nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object()) {
      out = std::move(parsed);
      return true;
    }
  }
  return false;
}

}  // namespace

ToolCallParser::ToolCallParser(ToolCallFormat format, std::vector<std::string> tool_names, uint64_t id_seed)
    : format_(std::move(format)), names_(std::move(tool_names)), id_seed_(id_seed) {
  // A marker-based format without its marker cannot find anything: read it
  // as the generic leading-JSON format rather than fail on every request.
  if (format_.syntax != ToolCallSyntax::kLeadingJson &&
      (format_.open.empty() || (format_.syntax == ToolCallSyntax::kMarkerArgs && format_.args_marker.empty())))
    format_ = generic_tool_call_format();
  state_ = format_.syntax == ToolCallSyntax::kMarkerArgs ? State::kText : State::kLeadStart;
}

ToolCallParser::Output ToolCallParser::feed(std::string_view piece) {
  Output out;
  buf_.append(piece);
  run(false, out);
  return out;
}

ToolCallParser::Output ToolCallParser::finish() {
  Output out;
  run(true, out);
  // Whitespace around calls is dropped; an answer that is only whitespace
  // is still the answer.
  if (next_index_ == 0 && !pending_ws_.empty()) {
    out.content += pending_ws_;
    content_bytes_ += pending_ws_.size();
  }
  pending_ws_.clear();
  return out;
}

void ToolCallParser::run(bool eof, Output& out) {
  while (step(eof, out)) {
  }
}

void ToolCallParser::emit_content(std::string_view text, Output& out) {
  if (text.empty()) return;
  out.content += pending_ws_;
  out.content += text;
  content_bytes_ += pending_ws_.size() + text.size();
  pending_ws_.clear();
  boundary_ = false;
}

void ToolCallParser::reject(Output& out) {
  std::string text;
  text.swap(raw_);
  json_.clear();
  name_.clear();
  id_.clear();
  emit_content(text, out);
  bare_ = false;
  fence_close_.clear();
  state_ = format_.syntax == ToolCallSyntax::kLeadingJson ? State::kPassthrough : State::kText;
}

ToolCallParser::State ToolCallParser::after_call() const {
  // kLeadingJson has no marker to look for in kText: after a call it looks
  // for another leading value.
  return format_.syntax == ToolCallSyntax::kLeadingJson ? State::kLeadStart : State::kText;
}

bool ToolCallParser::known(const std::string& name) const {
  return names_.empty() || std::find(names_.begin(), names_.end(), name) != names_.end();
}

std::string ToolCallParser::next_id() {
  // Ollama's ids look like "call_" + 8 lowercase alphanumerics.
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  uint64_t x = splitmix64(id_seed_ ^ splitmix64(static_cast<uint64_t>(next_index_)));
  std::string id = "call_";
  for (int i = 0; i < 8; ++i) {
    id += kAlphabet[x % 36];
    x /= 36;
  }
  return id;
}

bool ToolCallParser::accept_call(const ojson& object, ToolCall& call) const {
  if (!object.is_object()) return false;
  const ojson* o = &object;
  // The OpenAI shape {"type": "function", "function": {"name", "arguments"}}.
  if (!o->contains(format_.name_key) && !o->contains("name") && o->contains("function") &&
      (*o)["function"].is_object())
    o = &(*o)["function"];
  const ojson* name = nullptr;
  for (const std::string& key : {format_.name_key, std::string("name")})
    if (o->contains(key) && (*o)[key].is_string()) {
      name = &(*o)[key];
      break;
    }
  if (!name || name->get_ref<const std::string&>().empty()) return false;
  call.name = name->get<std::string>();
  if (!known(call.name)) return false;

  const ojson* args = nullptr;
  for (const std::string& key : {format_.arguments_key, std::string("arguments"), std::string("parameters")})
    if (o->contains(key)) {
      args = &(*o)[key];
      break;
    }
  if (args) {
    if (!to_arguments(*args, call.arguments)) return false;
  } else {
    // Behind a marker the text is a call even without arguments (a tool
    // whose parameters are all optional); a bare leading object without
    // them is more likely an ordinary JSON answer.
    if (format_.syntax == ToolCallSyntax::kLeadingJson || bare_) return false;
    call.arguments = ojson::object();
  }
  for (const ojson* holder : {o, &object})
    if (holder->contains("id") && (*holder)["id"].is_string() && !(*holder)["id"].get_ref<const std::string&>().empty()) {
      call.id = (*holder)["id"].get<std::string>();
      break;
    }
  return true;
}

void ToolCallParser::complete_json(Output& out) {
  const auto value = ojson::parse(json_, nullptr, false);
  std::vector<ToolCall> calls;
  bool ok = !value.is_discarded();
  if (ok && format_.syntax == ToolCallSyntax::kMarkerArgs) {
    ToolCall call;
    call.name = name_;
    call.id = id_;
    ok = known(name_) && to_arguments(value, call.arguments);
    calls.push_back(std::move(call));
  } else if (ok && value.is_array()) {
    ok = !value.empty();
    for (const auto& element : value) {
      ToolCall call;
      if (!(ok = accept_call(element, call))) break;
      calls.push_back(std::move(call));
    }
  } else if (ok) {
    ToolCall call;
    ok = accept_call(value, call);
    calls.push_back(std::move(call));
  }
  if (!ok) {
    reject(out);
    return;
  }
  // All the calls of one value or none: a half-accepted array would leave
  // text that is neither a call nor sensible content.
  for (auto& call : calls) {
    if (call.id.empty()) call.id = next_id();
    call.index = next_index_++;
    call.content_before = content_bytes_;
    out.calls.push_back(std::move(call));
  }
  raw_.clear();
  json_.clear();
  name_.clear();
  id_.clear();
  boundary_ = true;
  bare_ = false;
  if (!fence_close_.empty())
    state_ = State::kAfterJson;
  else if (format_.syntax == ToolCallSyntax::kTagged && !format_.close.empty())
    state_ = State::kAfterJson;
  else
    state_ = after_call();
}

bool ToolCallParser::step(bool eof, Output& out) {
  const std::string& open = format_.open;
  switch (state_) {
    case State::kText: {
      if (boundary_) take_space(buf_, pending_ws_);
      if (buf_.empty()) return false;
      const size_t at = buf_.find(open);
      if (at != std::string::npos) {
        emit_content(std::string_view(buf_).substr(0, at), out);
        raw_ = std::move(pending_ws_);
        pending_ws_.clear();
        raw_ += open;
        buf_.erase(0, at + open.size());
        state_ = State::kAfterOpen;
        return true;
      }
      const size_t hold = eof ? 0 : std::max(marker_overlap(buf_, open), incomplete_utf8_tail(buf_));
      emit_content(std::string_view(buf_).substr(0, buf_.size() - hold), out);
      buf_.erase(0, buf_.size() - hold);
      return false;
    }

    case State::kLeadStart: {
      take_space(buf_, pending_ws_);
      if (buf_.empty()) return false;
      if (!open.empty()) {
        if (buf_.starts_with(open)) {
          raw_ = std::move(pending_ws_);
          pending_ws_.clear();
          raw_ += open;
          buf_.erase(0, open.size());
          state_ = State::kAfterOpen;
          return true;
        }
        if (!eof && could_become(buf_, open)) return false;
      }
      // A call the model wrote without its template's marker: a bare JSON
      // value, or one in a Markdown code fence (small models often do this).
      size_t fence = match_fence(buf_);
      if (fence == std::string::npos) {
        if (!eof) return false;
        fence = 0;
      }
      if (fence > 0 || buf_[0] == '{' || buf_[0] == '[') {
        raw_ = std::move(pending_ws_);
        pending_ws_.clear();
        raw_.append(buf_, 0, fence);
        buf_.erase(0, fence);
        if (fence > 0) fence_close_ = std::string(kFence);
        bare_ = format_.syntax != ToolCallSyntax::kLeadingJson;
        extent_.reset();
        state_ = State::kJson;
      } else {
        state_ = format_.syntax == ToolCallSyntax::kLeadingJson ? State::kPassthrough : State::kText;
      }
      return true;
    }

    case State::kAfterOpen: {
      take_space(buf_, raw_);
      if (buf_.empty()) {
        if (eof) reject(out);
        return eof;
      }
      const char c = buf_[0];
      if (format_.syntax == ToolCallSyntax::kMarkerArgs) {
        state_ = State::kName;
      } else if (c == '{' || (c == '[' && format_.syntax != ToolCallSyntax::kTagged)) {
        extent_.reset();
        state_ = State::kJson;
      } else {
        reject(out);
      }
      return true;
    }

    case State::kName:
    case State::kId: {
      if (buf_.empty()) {
        if (eof) reject(out);
        return eof;
      }
      const bool naming = state_ == State::kName;
      if (naming && !format_.id_marker.empty() && buf_.starts_with(format_.id_marker)) {
        raw_ += format_.id_marker;
        buf_.erase(0, format_.id_marker.size());
        if (name_.empty())
          reject(out);
        else
          state_ = State::kId;
        return true;
      }
      if (buf_.starts_with(format_.args_marker)) {
        raw_ += format_.args_marker;
        buf_.erase(0, format_.args_marker.size());
        if ((naming ? name_ : id_).empty())
          reject(out);
        else
          state_ = State::kArgsStart;
        return true;
      }
      if (!eof && (could_become(buf_, format_.args_marker) ||
                   (naming && !format_.id_marker.empty() && could_become(buf_, format_.id_marker))))
        return false;
      std::string& field = naming ? name_ : id_;
      if (!name_byte(buf_[0]) || field.size() >= kMaxName) {
        reject(out);
        return true;
      }
      field += buf_[0];
      raw_ += buf_[0];
      buf_.erase(0, 1);
      return true;
    }

    case State::kArgsStart: {
      take_space(buf_, raw_);
      if (buf_.empty()) {
        if (eof) reject(out);
        return eof;
      }
      if (buf_[0] == '{') {
        extent_.reset();
        state_ = State::kJson;
      } else {
        reject(out);
      }
      return true;
    }

    case State::kJson: {
      size_t n = 0;
      bool closed = false;
      while (n < buf_.size() && !closed) closed = extent_.feed(buf_[n++]);
      json_.append(buf_, 0, n);
      raw_.append(buf_, 0, n);
      buf_.erase(0, n);
      if (closed) {
        complete_json(out);
        return true;
      }
      if (eof) reject(out);
      return eof;
    }

    case State::kAfterJson: {
      const std::string& close = fence_close_.empty() ? format_.close : fence_close_;
      take_space(buf_, pending_ws_);
      if (buf_.empty()) {
        if (eof) {
          fence_close_.clear();
          state_ = after_call();
        }
        return eof;
      }
      if (buf_.starts_with(close)) {
        buf_.erase(0, close.size());
        pending_ws_.clear();
        fence_close_.clear();
        state_ = after_call();
        return true;
      }
      if (!eof && could_become(buf_, close)) return false;
      fence_close_.clear();
      if (buf_[0] == '{') {
        // Another call inside the same <tool_call> block.
        raw_ = std::move(pending_ws_);
        pending_ws_.clear();
        extent_.reset();
        state_ = State::kJson;
      } else {
        // No closing tag: the call stands; what follows is read as text.
        state_ = format_.syntax == ToolCallSyntax::kLeadingJson ? State::kPassthrough : State::kText;
      }
      return true;
    }

    case State::kPassthrough: {
      const size_t hold = eof ? 0 : incomplete_utf8_tail(buf_);
      emit_content(std::string_view(buf_).substr(0, buf_.size() - hold), out);
      buf_.erase(0, buf_.size() - hold);
      return false;
    }
  }
  return false;
}

}  // namespace kiln::engine
