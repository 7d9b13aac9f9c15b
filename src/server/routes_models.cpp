// Listing, describing, copying and deleting stored models: Ollama's
// ListHandler, ShowHandler, CopyHandler and DeleteHandler.
#include <cstdio>

#include "gguf/gguf.h"
#include "server/json_body.h"
#include "server/model_json.h"
#include "server/model_lookup.h"
#include "server/routes.h"
#include "server/time_format.h"
#include "store/model_info.h"
#include "store/model_view.h"
#include "store/parameters.h"

namespace kiln::server {
namespace {

void list_models(ApiState& state, Call& c) {
  nlohmann::ordered_json models = nlohmann::ordered_json::array();
  for (const auto& m : state.store.list()) models.push_back(list_entry(state.store, m));
  c.json(200, nlohmann::ordered_json{{"models", std::move(models)}});
}

// Ollama's parameters text: "%-30s %#v" per value, one line each.
std::string parameters_text(const nlohmann::json& params) {
  std::string out;
  for (const auto& [key, value] : store::param_lines(params)) {
    char pad[40];
    std::snprintf(pad, sizeof pad, "%-30s ", key.c_str());
    out += (out.empty() ? "" : "\n") + std::string(pad) + value;
  }
  return out;
}

void show_model(ApiState& state, Call& c) {
  const JsonBody body = JsonBody::parse(c.body());
  std::string requested = body.string("model").value_or("");
  if (requested.empty()) requested = body.string("name").value_or("");  // the field's old name
  if (requested.empty()) throw bad_request("model is required");
  const bool verbose = body.boolean("verbose").value_or(false);
  body.string("system"), body.string("template"), body.object("options");  // type-checked, as Go's decoder does

  const store::ModelName name = find_model(state.store, requested);
  const store::ModelView view = store::view_stored_model(state.store, name);
  const store::StoredModel& stored = *view.stored;
  const gguf::File file = gguf::File::open(view.weights);
  const store::ModelInfo info = store::summarize(file);

  std::string parent;
  for (const auto& l : stored.manifest.layers)
    if (!l.from.empty()) parent = l.from;

  nlohmann::ordered_json out;
  std::string license;
  for (const auto& l : view.licenses) license += (license.empty() ? "" : "\n") + l;
  if (!license.empty()) out["license"] = license;
  out["modelfile"] = store::render_modelfile(view);
  if (const std::string p = parameters_text(view.parameters); !p.empty()) out["parameters"] = p;
  if (!view.template_text.empty()) out["template"] = view.template_text;
  if (!view.system.empty()) out["system"] = view.system;
  out["details"] = model_details(read_config(state.store, stored), parent);
  if (!view.messages.empty()) {
    nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
    for (const auto& m : view.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    out["messages"] = std::move(msgs);
  }
  out["model_info"] = model_info_json(file, verbose);
  if (verbose) out["tensors"] = tensors_json(file);
  out["capabilities"] = store::capabilities(info, view.template_text);
  out["modified_at"] = rfc3339(to_system_time(stored.modified));
  c.json(200, out);
}

void copy_model(ApiState& state, Call& c) {
  const JsonBody body = JsonBody::parse(c.body());
  const std::string source = body.string("source").value_or("");
  const std::string destination = body.string("destination").value_or("");
  if (!store::ModelName::is_valid(source)) throw bad_request("source \"" + source + "\" is invalid");
  if (!store::ModelName::is_valid(destination)) throw bad_request("destination \"" + destination + "\" is invalid");
  std::lock_guard lock(state.write_mutex);
  const auto src = state.store.find(store::ModelName::parse(source));
  if (!src) throw not_found("model \"" + source + "\" not found");
  state.store.copy(*src, store::ModelName::parse(destination));
  c.res.status = 200;
}

void delete_model(ApiState& state, Call& c) {
  const JsonBody body = JsonBody::parse(c.body());
  std::string requested = body.string("model").value_or("");
  if (requested.empty()) requested = body.string("name").value_or("");
  if (!store::ModelName::is_valid(requested)) throw bad_request("name \"" + requested + "\" is invalid");
  std::lock_guard lock(state.write_mutex);
  const store::ModelName name = find_model(state.store, requested);
  state.store.remove(name);
  c.res.status = 200;
}

}  // namespace

void add_model_routes(Router& r, ApiState& state) {
  auto list = [&state](Call& c) { list_models(state, c); };
  r.add("GET", "/api/tags", BodyMode::None, list);
  r.add("HEAD", "/api/tags", BodyMode::None, list);
  r.add("POST", "/api/show", BodyMode::Json, [&state](Call& c) { show_model(state, c); });
  r.add("POST", "/api/copy", BodyMode::Json, [&state](Call& c) { copy_model(state, c); });
  r.add("DELETE", "/api/delete", BodyMode::Json, [&state](Call& c) { delete_model(state, c); });
}

}  // namespace kiln::server
