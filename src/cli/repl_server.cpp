#include "cli/repl_server.h"

#include "core/error.h"

namespace kiln::cli {
namespace {

int64_t ns_field(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

}  // namespace

ServerChat::ServerChat(client::ApiClient& api, std::string model, std::string keep_alive)
    : api_(api), model_(std::move(model)), keep_alive_(std::move(keep_alive)) {}

nlohmann::json ServerChat::request(nlohmann::json messages, bool stream) const {
  nlohmann::json body = {{"model", model_}, {"messages", std::move(messages)}, {"stream", stream}};
  if (!user_params_.empty()) body["options"] = user_params_;
  if (!format_.is_null()) body["format"] = format_;
  if (think_) body["think"] = *think_;
  if (!keep_alive_.empty()) body["keep_alive"] = keep_alive_;
  return body;
}

void ServerChat::preload() { api_.post("/api/chat", request(nlohmann::json::array(), false)); }

engine::Reply ServerChat::chat(const std::string& message, engine::TextSink sink, const std::atomic<bool>* cancel) {
  nlohmann::json messages = nlohmann::json::array();
  // An explicit /set system replaces the model's SYSTEM (the server adds
  // that one when the conversation has none).
  if (!system_.empty()) messages.push_back({{"role", "system"}, {"content", system_}});
  for (const auto& [role, content] : history_) messages.push_back({{"role", role}, {"content", content}});
  messages.push_back({{"role", "user"}, {"content", message}});

  engine::Reply reply;
  bool done = false;
  api_.post_stream(
      "/api/chat", request(std::move(messages), true),
      [&](const nlohmann::json& chunk) {
        if (const auto m = chunk.find("message"); m != chunk.end() && m->is_object()) {
          const std::string thinking = m->value("thinking", "");
          const std::string content = m->value("content", "");
          if (!thinking.empty()) {
            reply.thinking += thinking;
            sink(thinking, true);
          }
          if (!content.empty()) {
            reply.content += content;
            sink(content, false);
          }
        }
        if (chunk.value("done", false)) {
          done = true;
          const std::string reason = chunk.value("done_reason", "stop");
          reply.reason = reason == "length" ? engine::DoneReason::Length : engine::DoneReason::Stop;
          reply.timings.total_ns = ns_field(chunk, "total_duration");
          reply.timings.load_ns = ns_field(chunk, "load_duration");
          reply.timings.prompt_eval_count = ns_field(chunk, "prompt_eval_count");
          reply.timings.prompt_eval_ns = ns_field(chunk, "prompt_eval_duration");
          reply.timings.eval_count = ns_field(chunk, "eval_count");
          reply.timings.eval_ns = ns_field(chunk, "eval_duration");
        }
        return true;
      },
      cancel);
  if (!done) {
    // Ctrl-C closed the connection (the server cancels the request); the
    // turn is not kept, as a local interrupted answer is not.
    reply.reason = engine::DoneReason::Cancelled;
    return reply;
  }
  history_.emplace_back("user", message);
  history_.emplace_back("assistant", reply.content);
  return reply;
}

void ServerChat::set_parameter(std::string_view name, std::string_view value) {
  engine::Options next = options_;
  engine::apply_parameter(next, name, value);  // throws, naming the option, before anything changes
  const nlohmann::json all = engine::to_json(next);
  if (all.contains(std::string(name))) user_params_[std::string(name)] = all[std::string(name)];
  options_ = std::move(next);
}

void ServerChat::set_stops(std::vector<std::string> stops) {
  engine::Options next = options_;
  next.stop.clear();
  for (std::string& s : stops)
    if (!s.empty()) next.stop.push_back(std::move(s));
  engine::validate(next);
  user_params_["stop"] = next.stop;
  options_ = std::move(next);
}

void ServerChat::set_format(const std::string& format) {
  format_grammar(format);  // the same check as local: json or a schema object
  if (format.empty())
    format_ = nullptr;
  else if (format == "json")
    format_ = "json";
  else
    format_ = nlohmann::json::parse(format);
}

std::string ServerChat::template_source() {
  const nlohmann::json show = api_.post("/api/show", {{"model", model_}});
  return show.value("template", "");
}

std::vector<std::vector<std::string>> ServerChat::session_rows() {
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : api_.get("/api/ps").value("models", nlohmann::json::array()))
    if (const std::string n = m.value("name", ""); n == model_ || n == model_ + ":latest")
      rows.push_back({"context in use", std::to_string(m.value("context_length", 0))});
  rows.push_back({"server", api_.url()});
  return rows;
}

}  // namespace kiln::cli
