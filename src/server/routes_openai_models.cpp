// OpenAI's model list and retrieval, translated from the store as Ollama's
// openai.ListMiddleware and RetrieveMiddleware do: id is the model's name,
// created its manifest's modification time, owned_by its namespace.
#include "server/model_lookup.h"
#include "server/routes.h"
#include "server/time_format.h"

namespace kiln::server {
namespace {

nlohmann::ordered_json openai_model(const store::ModelName& name, const std::string& id,
                                    std::filesystem::file_time_type modified) {
  return {{"id", id},
          {"object", "model"},
          {"created", unix_seconds(to_system_time(modified))},
          {"owned_by", name.ns()}};
}

}  // namespace

void add_openai_model_routes(Router& r, ApiState& state) {
  r.add(
      "GET", "/v1/models", BodyMode::None,
      [&state](Call& c) {
        nlohmann::ordered_json data = nlohmann::ordered_json::array();
        for (const auto& m : state.store.list()) data.push_back(openai_model(m.name, m.name.display(), m.modified));
        c.json(200, nlohmann::ordered_json{{"object", "list"}, {"data", std::move(data)}});
      },
      ErrorStyle::OpenAI);
  // "*id": names like hf.co/org/model:tag contain slashes.
  r.add(
      "GET", "/v1/models/*id", BodyMode::None,
      [&state](Call& c) {
        const std::string& id = c.param("id");
        const store::StoredModel m = state.store.get(find_model(state.store, id));
        c.json(200, openai_model(m.name, id, m.modified));
      },
      ErrorStyle::OpenAI);
}

}  // namespace kiln::server
