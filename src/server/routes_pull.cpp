// POST /api/pull: Ollama's PullHandler over store::pull_model (the code
// behind `kiln pull`). The request is {model (or the old "name"), insecure,
// stream}; streamed progress is Ollama's api.ProgressResponse, one NDJSON
// line per update ({"status":"pulling manifest"}, {"status":"pulling
// <12 hex>","digest","total","completed"}, ..., {"status":"success"});
// "stream": false answers one {"status":"success"} when it is done. A client
// that goes away stops the download (what was fetched stays, so the next
// pull resumes).
#include <cstdlib>
#include <stop_token>

#include "server/http_error.h"
#include "server/json_body.h"
#include "server/routes.h"
#include "server/streaming.h"
#include "store/pull.h"

namespace kiln::server {
namespace {

nlohmann::ordered_json progress_json(const store::PullUpdate& u) {
  nlohmann::ordered_json j{{"status", u.status}};
  // Go's omitempty: digest, total and completed only when set.
  if (!u.digest.empty()) j["digest"] = u.digest;
  if (u.total) j["total"] = u.total;
  if (u.completed) j["completed"] = u.completed;
  return j;
}

struct PullRequest {
  std::string what;
  store::PullOptions options;
  bool stream = true;
};

PullRequest parse_pull(const ApiState& state, const std::string& text) {
  const JsonBody body = JsonBody::parse(text);
  PullRequest r;
  r.what = body.string("model").value_or("");
  if (r.what.empty()) r.what = body.string("name").value_or("");
  if (r.what.empty()) throw bad_request("model is required");
  if (!store::is_gguf_url(r.what) && !store::ModelName::is_valid(r.what)) throw bad_request("invalid model name");
  r.stream = body.boolean("stream").value_or(true);
  r.options.registry.insecure = body.boolean("insecure").value_or(false);
  r.options.registry.base_url = state.registry;
  r.options.prune = std::getenv("KILN_NOPRUNE") == nullptr;
  return r;
}

// The status for a failed pull answered without streaming: the registry not
// knowing the model is the client's 404; network and disk trouble are ours.
int pull_error_status(const std::string& message) {
  return message.find("file does not exist") != std::string::npos ? 404 : 500;
}

// Store writes run one at a time (ApiState::write_mutex): a delete must not
// drop a blob this pull has just decided to reuse. A long download holds it,
// so a create or delete waits for the pull.
store::StoredModel locked_pull(ApiState& state, const PullRequest& r, const store::PullCallback& progress) {
  std::lock_guard lock(state.write_mutex);
  return store::pull_model(state.store, r.what, r.options, progress);
}

void pull(ApiState& state, Call& c) {
  PullRequest r = parse_pull(state, c.body());
  if (!r.stream) {
    try {
      locked_pull(state, r, [](const store::PullUpdate&) {});
    } catch (const HttpError&) {
      throw;
    } catch (const kiln::Error& e) {
      throw HttpError(pull_error_status(e.what()), e.what());
    }
    c.json(200, nlohmann::ordered_json{{"status", "success"}});
    return;
  }
  stream_response(
      c, kNdjsonType,
      [&state, r = std::move(r)](StreamWriter& out) mutable {
        std::stop_source stop;
        r.options.download.stop = stop.get_token();
        try {
          locked_pull(state, r, [&](const store::PullUpdate& u) {
            if (!stop.stop_requested() && !out.ndjson(progress_json(u))) stop.request_stop();
          });
        } catch (const kiln::Error& e) {
          if (!stop.stop_requested()) out.ndjson(nlohmann::ordered_json{{"error", e.what()}});
        }
      },
      state.log);
}

}  // namespace

void add_pull_routes(Router& r, ApiState& state) {
  r.add("POST", "/api/pull", BodyMode::Json, [&state](Call& c) { pull(state, c); });
}

}  // namespace kiln::server
