// POST /api/create: builds a model from an uploaded GGUF blob or a stored
// model, streaming Ollama's progress lines ({"status": ...} as NDJSON) unless
// "stream": false, in which case only the last status (or the error, with
// its status code) is answered. Every field is checked before the stream
// starts, so a bad request gets a real 4xx rather than an error line.
#include <httplib.h>

#include "server/create_request.h"
#include "server/http_error.h"
#include "server/routes.h"

namespace kiln::server {
namespace {

struct ClientGone {};

void create(ApiState& state, Call& c) {
  PreparedCreate prepared = prepare_create(JsonBody::parse(c.body()), state.store);
  if (!prepared.stream) {
    std::lock_guard lock(state.write_mutex);
    try {
      store::create_model(state.store, prepared.request, {});
    } catch (const HttpError&) {
      throw;
    } catch (const Error& e) {
      throw bad_request(e.what());  // a GGUF that does not parse, a bad template layer...
    }
    c.json(200, nlohmann::ordered_json{{"status", "success"}});
    return;
  }

  auto request = std::make_shared<store::CreateRequest>(std::move(prepared.request));
  c.res.status = 200;
  c.res.set_chunked_content_provider("application/x-ndjson", [&state, request](size_t, httplib::DataSink& sink) {
    auto send = [&](const nlohmann::ordered_json& j) {
      const std::string line = dump_json(j) + "\n";
      return sink.write(line.data(), line.size());
    };
    try {
      std::lock_guard lock(state.write_mutex);
      store::CreateProgress progress;
      // A client that went away cancels the create; the manifest is written
      // last, so nothing half-made is left visible.
      progress.status = [&](const std::string& s) {
        if (!send({{"status", s}})) throw ClientGone{};
      };
      store::create_model(state.store, *request, progress);
    } catch (const ClientGone&) {
      return false;
    } catch (const Error& e) {
      send({{"error", e.what()}});
    } catch (const std::exception& e) {
      if (state.log) state.log(std::string("error: POST /api/create: ") + e.what());
      send({{"error", e.what()}});
    }
    sink.done();
    return true;
  });
}

}  // namespace

void add_create_routes(Router& r, ApiState& state) {
  r.add("POST", "/api/create", BodyMode::Json, [&state](Call& c) { create(state, c); });
}

}  // namespace kiln::server
