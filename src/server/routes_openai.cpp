// POST /v1/chat/completions, /v1/completions, /v1/embeddings: OpenAI's wire
// format over the native handlers. Each generation route translates the body
// (openai_*.h), starts the native generation (everything that can fail with
// a client error fails here, before a byte is sent, and the router answers
// it in OpenAI's error shape), then either streams the translated chunks as
// server-sent events or merges them into one answer.
#include <memory>

#include "server/generation.h"
#include "server/http_error.h"
#include "server/openai_chat.h"
#include "server/openai_completions.h"
#include "server/openai_embeddings.h"
#include "server/routes.h"
#include "server/streaming.h"

namespace kiln::server {
namespace {

using openai::ojson;

// Streams one generation through a translator (ChatChunkTranslator or
// CompletionChunkTranslator) as SSE: each native chunk's objects, then
// "data: [DONE]" after the final one (not after an error, whose object ends
// the stream as OpenAI's does).
template <class Translator>
void stream_translated(Call& call, ApiState& state, std::shared_ptr<NativeGeneration> generation,
                       std::shared_ptr<Translator> translator) {
  stream_response(
      call, kSseType,
      [generation, translator](StreamWriter& out) {
        generation->run(
            [&](const nlohmann::ordered_json& chunk) {
              for (const ojson& event : translator->translate(chunk))
                if (!out.sse(event)) return false;
              return true;
            },
            [&] { return out.alive(); });
        if (translator->done()) out.sse_done();
      },
      state.log);
}

// Runs a generation to its end for a "stream": false answer; the connection
// probe cancels it if the client leaves while it waits.
nlohmann::ordered_json collect(Call& call, NativeGeneration& generation) {
  ChunkCollector collector;
  ConnectionProbe probe(call.req);
  generation.run(
      [&](const nlohmann::ordered_json& chunk) {
        collector.add(chunk);
        return true;
      },
      [&] { return probe.alive(); });
  const nlohmann::ordered_json& merged = collector.result();
  // An engine failure after the request was accepted is the server's, not
  // the client's: OpenAI's api_error with 500.
  if (const auto it = merged.find("error"); it != merged.end() && !it->is_null())
    throw HttpError(500, it->is_string() ? it->get<std::string>() : it->dump());
  return merged;
}

void chat_completions(Call& call, ApiState& state) {
  const openai::ChatTranslation request = openai::chat_request(openai::parse_body(call.body()));
  std::shared_ptr<NativeGeneration> generation = start_chat(state, request.native);
  const std::string id = openai::new_id("chatcmpl-");
  const int64_t created = openai::unix_now();
  if (request.stream) {
    stream_translated(call, state, std::move(generation),
                      std::make_shared<openai::ChatChunkTranslator>(id, created, request.include_usage));
    return;
  }
  call.json(200, openai::chat_completion(collect(call, *generation), id, created));
}

void completions(Call& call, ApiState& state) {
  const openai::CompletionTranslation request = openai::completion_request(openai::parse_body(call.body()));
  std::shared_ptr<NativeGeneration> generation = start_generate(state, request.native);
  const std::string id = openai::new_id("cmpl-");
  const int64_t created = openai::unix_now();
  if (request.stream) {
    stream_translated(call, state, std::move(generation),
                      std::make_shared<openai::CompletionChunkTranslator>(request, id, created));
    return;
  }
  call.json(200, openai::text_completion(collect(call, *generation), request, id, created));
}

// /v1/embeddings runs the native /api/embed handler itself, as Ollama's
// middleware does: the translated body goes through a private router that
// holds only the embed routes (so the request is not counted twice in the
// request metrics), and its answer, or its error with its status, comes
// back translated. One embedding code path for both APIs.
class NativeEmbed {
 public:
  NativeEmbed(ApiState& state, size_t max_body) : state_(state), router_(max_body) {
    add_embed_routes(router_, state);
  }

  ojson operator()(const ojson& native_body) const {
    const std::string body = native_body.dump(-1, ' ', false, ojson::error_handler_t::replace);
    httplib::Request req;
    req.method = "POST";
    req.path = "/api/embed";
    req.set_header("Content-Type", "application/json");
    req.set_header("Content-Length", std::to_string(body.size()));
    httplib::Response res;
    const httplib::ContentReader reader(
        [&](const httplib::ContentReceiver& receive) { return receive(body.data(), body.size()); },
        [](const httplib::MultipartContentHeader&, const httplib::ContentReceiver&) { return false; });
    router_.dispatch(req, res, &reader, state_.log);
    ojson answer = ojson::parse(res.body, nullptr, false);
    if (res.status != 200) {
      const auto it = answer.is_object() ? answer.find("error") : answer.end();
      throw HttpError(res.status, it != answer.end() && it->is_string() ? it->get<std::string>() : res.body);
    }
    if (!answer.is_object()) throw HttpError(500, "the embed handler answered no JSON object");
    return answer;
  }

 private:
  ApiState& state_;
  Router router_;
};

void embeddings(Call& call, const NativeEmbed& native_embed) {
  const openai::EmbeddingsTranslation request = openai::embeddings_request(openai::parse_body(call.body()));
  call.json(200, openai::embedding_list(native_embed(request.native), request));
}

}  // namespace

void add_openai_routes(Router& r, ApiState& state) {
  r.add(
      "POST", "/v1/chat/completions", BodyMode::Json, [&state](Call& c) { chat_completions(c, state); },
      ErrorStyle::OpenAI);
  r.add(
      "POST", "/v1/completions", BodyMode::Json, [&state](Call& c) { completions(c, state); }, ErrorStyle::OpenAI);
  auto native_embed = std::make_shared<NativeEmbed>(state, r.max_body_bytes());
  r.add(
      "POST", "/v1/embeddings", BodyMode::Json, [native_embed](Call& c) { embeddings(c, *native_embed); },
      ErrorStyle::OpenAI);
}

}  // namespace kiln::server
