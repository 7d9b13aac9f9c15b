// Ollama /api/chat chunks -> OpenAI chat.completion / chat.completion.chunk.
#include "server/openai_chat.h"

namespace kiln::server::openai {
namespace {

constexpr const char* kFingerprint = "fp_kiln";

std::string string_of(const ojson& object, std::string_view key) {
  const ojson* v = field(object, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

const ojson& message_of(const ojson& chunk) {
  static const ojson kEmpty = ojson::object();
  const ojson* m = field(chunk, "message");
  return m && m->is_object() ? *m : kEmpty;
}

const ojson* nonempty_array(const ojson& object, std::string_view key) {
  const ojson* v = field(object, key);
  return v && v->is_array() && !v->empty() ? v : nullptr;
}

std::string compact(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

// One logprob entry in OpenAI's shape: bytes always present (from the
// native entry when it carries them, else the token's text).
ojson logprob_entry(const ojson& native) {
  ojson e = ojson::object();
  const std::string token = string_of(native, "token");
  e["token"] = token;
  e["logprob"] = native.value("logprob", 0.0);
  const ojson* bytes = field(native, "bytes");
  e["bytes"] = bytes && bytes->is_array() ? *bytes : token_bytes(token);
  return e;
}

}  // namespace

ojson tool_calls_out(const ojson& native_calls, int first_index) {
  ojson out = ojson::array();
  int index = first_index;
  for (const auto& call : native_calls) {
    if (!call.is_object()) continue;
    const ojson* fn = field(call, "function");
    if (!fn || !fn->is_object()) continue;
    std::string id = string_of(call, "id");
    if (id.empty()) id = new_id("call_");
    const ojson* args = field(*fn, "arguments");
    out.push_back({{"id", id},
                   {"index", index++},
                   {"type", "function"},
                   {"function", {{"name", string_of(*fn, "name")}, {"arguments", args ? compact(*args) : "{}"}}}});
  }
  return out;
}

ojson chat_logprobs_content(const ojson& native_logprobs) {
  ojson content = ojson::array();
  for (const auto& lp : native_logprobs) {
    if (!lp.is_object()) continue;
    ojson e = logprob_entry(lp);
    ojson top = ojson::array();
    if (const ojson* alts = field(lp, "top_logprobs"); alts && alts->is_array())
      for (const auto& alt : *alts)
        if (alt.is_object()) top.push_back(logprob_entry(alt));
    e["top_logprobs"] = std::move(top);
    content.push_back(std::move(e));
  }
  return content;
}

ojson chat_completion(const ojson& merged, const std::string& id, int64_t created) {
  const ojson& msg = message_of(merged);
  ojson calls = ojson::array();
  if (const ojson* native_calls = nonempty_array(msg, "tool_calls")) calls = tool_calls_out(*native_calls, 0);
  const std::string content = string_of(msg, "content");
  ojson message = {{"role", "assistant"}};
  // OpenAI answers a turn that only calls tools with content null.
  message["content"] = content.empty() && !calls.empty() ? ojson(nullptr) : ojson(content);
  if (std::string thinking = string_of(msg, "thinking"); !thinking.empty()) message["reasoning"] = thinking;
  if (!calls.empty()) message["tool_calls"] = calls;
  ojson logprobs = nullptr;
  if (const ojson* lp = field(merged, "logprobs"); lp && lp->is_array())
    logprobs = {{"content", chat_logprobs_content(*lp)}, {"refusal", nullptr}};
  ojson choice = {{"index", 0},
                  {"message", std::move(message)},
                  {"logprobs", std::move(logprobs)},
                  {"finish_reason", finish_reason(merged, !calls.empty())}};
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", string_of(merged, "model")},
          {"system_fingerprint", kFingerprint},
          {"choices", ojson::array({std::move(choice)})},
          {"usage", usage(merged)}};
}

ojson ChatChunkTranslator::chunk(ojson delta, const ojson* logprobs, const ojson& finish) const {
  ojson lp = nullptr;
  if (logprobs) lp = {{"content", chat_logprobs_content(*logprobs)}, {"refusal", nullptr}};
  ojson choice = {{"index", 0}, {"delta", std::move(delta)}, {"logprobs", std::move(lp)}, {"finish_reason", finish}};
  ojson c = {{"id", id_},
             {"object", "chat.completion.chunk"},
             {"created", created_},
             {"model", model_},
             {"system_fingerprint", kFingerprint},
             {"choices", ojson::array({std::move(choice)})}};
  // OpenAI: with include_usage every chunk carries "usage": null but the last.
  if (include_usage_) c["usage"] = nullptr;
  return c;
}

std::vector<ojson> ChatChunkTranslator::translate(const ojson& native) {
  std::vector<ojson> out;
  if (done_ || failed_) return out;
  if (const ojson* err = field(native, "error")) {
    failed_ = true;
    out.push_back(stream_error(err->is_string() ? err->get<std::string>() : compact(*err)));
    return out;
  }
  if (model_.empty()) model_ = string_of(native, "model");
  const ojson& msg = message_of(native);
  ojson delta = ojson::object();
  if (!role_sent_) {
    delta["role"] = "assistant";
    delta["content"] = "";
  }
  if (std::string content = string_of(msg, "content"); !content.empty()) delta["content"] = content;
  if (std::string thinking = string_of(msg, "thinking"); !thinking.empty()) delta["reasoning"] = thinking;
  if (const ojson* calls = nonempty_array(msg, "tool_calls")) {
    ojson converted = tool_calls_out(*calls, tool_calls_sent_);
    tool_calls_sent_ += static_cast<int>(converted.size());
    if (!converted.empty()) delta["tool_calls"] = std::move(converted);
  }
  const ojson* logprobs = nonempty_array(native, "logprobs");
  const bool final = native.value("done", false);
  if (final) {
    out.push_back(chunk(std::move(delta), logprobs, finish_reason(native, tool_calls_sent_ > 0)));
    if (include_usage_) {
      ojson u = chunk(ojson::object(), nullptr, nullptr);
      u["choices"] = ojson::array();
      u["usage"] = usage(native);
      out.push_back(std::move(u));
    }
    done_ = true;
  } else if (!delta.empty() || logprobs) {
    out.push_back(chunk(std::move(delta), logprobs, nullptr));
  }
  role_sent_ = role_sent_ || !out.empty();
  return out;
}

}  // namespace kiln::server::openai
