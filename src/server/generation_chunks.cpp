// Ollama's generate/chat chunks (server/generation_chunks.h) and the
// collector that folds a stream into one "stream": false answer.
#include "server/generation_chunks.h"

#include <ctime>

#include "server/generation.h"

namespace kiln::server {
namespace {

using ojson = nlohmann::ordered_json;

ojson bytes_of(std::string_view text) {
  ojson out = ojson::array();
  for (unsigned char c : text) out.push_back(int(c));
  return out;
}

ojson token_json(std::string_view text, float logprob) {
  return {{"token", std::string(text)}, {"logprob", double(logprob)}, {"bytes", bytes_of(text)}};
}

}  // namespace

std::string rfc3339_utc(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const int64_t ns_total = duration_cast<nanoseconds>(t.time_since_epoch()).count();
  int64_t secs = ns_total / 1000000000, nanos = ns_total % 1000000000;
  if (nanos < 0) nanos += 1000000000, secs -= 1;
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (nanos) {
    char frac[16];
    std::snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(nanos));
    std::string f = frac;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "Z";
}

ojson logprobs_json(const std::vector<engine::TokenLogprobText>& tokens, bool with_top) {
  ojson out = ojson::array();
  for (const auto& t : tokens) {
    ojson entry = token_json(t.text, t.logprob);
    if (with_top) {
      ojson top = ojson::array();
      for (const auto& [text, lp] : t.top) top.push_back(token_json(text, lp));
      entry["top_logprobs"] = std::move(top);
    }
    out.push_back(std::move(entry));
  }
  return out;
}

ojson tool_call_json(const engine::ToolCall& call) {
  ojson out = ojson::object();
  if (!call.id.empty()) out["id"] = call.id;
  out["function"] = {{"index", call.index}, {"name", call.name}, {"arguments", call.arguments}};
  return out;
}

ojson ChunkBuilder::head() const {
  return {{"model", model_}, {"created_at", rfc3339_utc(std::chrono::system_clock::now())}};
}

ojson ChunkBuilder::message(const std::string& content, const std::string& thinking,
                            const std::vector<engine::ToolCall>& calls) const {
  ojson m = {{"role", "assistant"}, {"content", content}};
  if (!thinking.empty()) m["thinking"] = thinking;
  if (!calls.empty()) {
    ojson list = ojson::array();
    for (const auto& c : calls) list.push_back(tool_call_json(c));
    m["tool_calls"] = std::move(list);
  }
  return m;
}

ojson ChunkBuilder::partial(const std::string& content, const std::string& thinking,
                            const std::vector<engine::ToolCall>& calls,
                            const std::vector<engine::TokenLogprobText>* logprobs) const {
  ojson c = head();
  if (chat_) {
    c["message"] = message(content, thinking, calls);
  } else {
    c["response"] = content;
    if (!thinking.empty()) c["thinking"] = thinking;
  }
  c["done"] = false;
  if (logprobs && !logprobs->empty()) c["logprobs"] = logprobs_json(*logprobs, with_top_);
  return c;
}

ojson ChunkBuilder::done(const FinalStats& s, const std::string& content,
                          const std::vector<engine::ToolCall>& calls) const {
  ojson c = head();
  const char* reason = s.reason == engine::DoneReason::Length ? "length" : "stop";
  if (chat_) {
    c["message"] = message(content, "", calls);
    c["done_reason"] = reason;
    c["done"] = true;
  } else {
    c["response"] = content;
    c["done"] = true;
    c["done_reason"] = reason;
    if (s.context) c["context"] = *s.context;
  }
  c["total_duration"] = s.total_ns;
  c["load_duration"] = s.load_ns;
  c["prompt_eval_count"] = s.timings.prompt_eval_count;
  c["prompt_eval_duration"] = s.timings.prompt_eval_ns;
  c["eval_count"] = s.timings.eval_count;
  c["eval_duration"] = s.timings.eval_ns;
  return c;
}

ojson ChunkBuilder::lifecycle(const char* done_reason) const {
  ojson c = head();
  if (chat_) {
    c["message"] = {{"role", "assistant"}, {"content", ""}};
    c["done_reason"] = done_reason;
    c["done"] = true;
  } else {
    c["response"] = "";
    c["done"] = true;
    c["done_reason"] = done_reason;
  }
  return c;
}

// ---- ChunkCollector

namespace {

void append_string(ojson& into, const char* key, const ojson& from) {
  auto it = from.find(key);
  if (it == from.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) return;
  if (!into.contains(key)) into[key] = "";
  into[key] = into[key].get<std::string>() + it->get<std::string>();
}

void append_array(ojson& into, const char* key, const ojson& from) {
  auto it = from.find(key);
  if (it == from.end() || !it->is_array()) return;
  if (!into.contains(key)) into[key] = ojson::array();
  for (const auto& v : *it) into[key].push_back(v);
}

// `fields` placed after `after` in `object`'s key order (ordered_json appends
// new keys at the end; the answer keeps Ollama's order).
ojson with_after(const ojson& object, const char* after, const ojson& fields) {
  ojson out = ojson::object();
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (fields.contains(it.key())) continue;
    out[it.key()] = it.value();
    if (it.key() == after)
      for (auto f = fields.begin(); f != fields.end(); ++f) out[f.key()] = f.value();
  }
  return out;
}

}  // namespace

void ChunkCollector::add(const ojson& chunk) {
  // Text and calls of every chunk accumulate; everything else is the last
  // chunk's (the final one carries done_reason and the timings).
  ojson text = merged_.is_object() ? merged_ : ojson::object();
  ojson acc = ojson::object();  // the accumulated fields
  if (chunk.contains("message")) {
    ojson m = text.contains("message") ? text["message"] : ojson::object();
    ojson accm = ojson::object();
    for (const char* k : {"content", "thinking"}) {
      if (m.contains(k)) accm[k] = m[k];
      append_string(accm, k, chunk["message"]);
    }
    if (m.contains("tool_calls")) accm["tool_calls"] = m["tool_calls"];
    append_array(accm, "tool_calls", chunk["message"]);
    // Ollama's Message order: role, content, thinking, tool_calls, the rest.
    const ojson& last = chunk["message"];
    ojson msg = {{"role", last.value("role", "assistant")}, {"content", accm.value("content", "")}};
    if (accm.contains("thinking")) msg["thinking"] = accm["thinking"];
    if (accm.contains("tool_calls")) msg["tool_calls"] = accm["tool_calls"];
    for (auto f = last.begin(); f != last.end(); ++f)
      if (!msg.contains(f.key())) msg[f.key()] = f.value();
    acc["message"] = std::move(msg);
  } else {
    for (const char* k : {"response", "thinking"}) {
      if (text.contains(k)) acc[k] = text[k];
      append_string(acc, k, chunk);
    }
    if (!acc.contains("response") && chunk.contains("response")) acc["response"] = "";
  }
  if (text.contains("logprobs")) acc["logprobs"] = text["logprobs"];
  append_array(acc, "logprobs", chunk);

  ojson base = chunk;
  if (acc.contains("message")) base["message"] = acc["message"];
  ojson after_response = ojson::object();
  for (const char* k : {"response", "thinking"})
    if (acc.contains(k)) after_response[k] = acc[k];
  if (!after_response.empty()) base = with_after(base, "created_at", after_response);
  if (acc.contains("logprobs")) base["logprobs"] = acc["logprobs"];
  merged_ = std::move(base);
}

}  // namespace kiln::server
