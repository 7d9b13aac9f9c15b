#pragma once
// `kiln run` against a running server: the conversation lives here and each
// turn is one streamed POST /api/chat, as Ollama's CLI does it. Options,
// system message, format and think travel with every request; the server
// loads the model (and keeps it for --keepalive).
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/repl.h"
#include "client/api_client.h"
#include "engine/options.h"

namespace kiln::cli {

class ServerChat : public Chat {
 public:
  // keep_alive: the --keepalive text ("" for the server's default).
  ServerChat(client::ApiClient& api, std::string model, std::string keep_alive);

  // Asks the server to load the model now (an empty chat), so that an
  // unknown model or a load failure shows before the first prompt.
  void preload();

  engine::Reply chat(const std::string& message, engine::TextSink sink, const std::atomic<bool>* cancel) override;
  void clear() override { history_.clear(); }
  void set_parameter(std::string_view name, std::string_view value) override;
  void set_stops(std::vector<std::string> stops) override;
  const nlohmann::json& user_parameters() const override { return user_params_; }
  void set_system(std::string system) override { system_ = std::move(system); }
  const std::string& system() const override { return system_; }
  void set_format(const std::string& format) override;
  void set_think(std::optional<bool> think) override { think_ = think; }
  std::string template_source() override;
  std::vector<std::vector<std::string>> session_rows() override;

 private:
  nlohmann::json request(nlohmann::json messages, bool stream) const;

  client::ApiClient& api_;
  std::string model_;
  std::string keep_alive_;
  engine::Options options_;  // defaults <- /set parameter: validates what the user sets
  nlohmann::json user_params_ = nlohmann::json::object();
  std::string system_;
  nlohmann::json format_;  // null, "json" or a schema
  std::optional<bool> think_;
  std::vector<std::pair<std::string, std::string>> history_;  // (role, content)
};

}  // namespace kiln::cli
