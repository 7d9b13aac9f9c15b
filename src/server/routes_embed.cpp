// POST /api/embed ({"model", "input": string | [strings], "truncate",
// "dimensions", "options", "keep_alive"} -> {"model", "embeddings",
// "total_duration", "load_duration", "prompt_eval_count"}, L2-normalized as
// Ollama does) and the legacy POST /api/embeddings ({"model", "prompt"} ->
// {"embedding"}, not normalized). The scheduler pools the last hidden states
// as the GGUF says; see engine::Scheduler::embed.
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "engine/options.h"
#include "server/generation_answer.h"
#include "server/generation_request.h"
#include "server/http_error.h"
#include "server/model_lookup.h"
#include "server/routes.h"
#include "store/model_view.h"

namespace kiln::server {
namespace {

using ojson = nlohmann::ordered_json;

struct EmbedRequest {
  std::string model;
  std::vector<std::string> inputs;
  bool truncate = true;
  int dimensions = 0;  // 0: all
  nlohmann::json options = nlohmann::json::object();
  std::optional<KeepAlive> keep_alive;
};

EmbedRequest parse_embed(const ojson& body, bool legacy) {
  EmbedRequest r;
  auto get = [&](const char* key) -> const ojson* {
    auto it = body.find(key);
    return it == body.end() || it->is_null() ? nullptr : &*it;
  };
  auto bad_type = [](const std::string& key, const char* expected) {
    return bad_request("invalid value for field '" + key + "': expected " + expected);
  };
  if (const ojson* m = get("model")) {
    if (!m->is_string()) throw bad_type("model", "a string");
    r.model = m->get<std::string>();
  }
  if (r.model.empty()) throw bad_request("model is required");
  if (legacy) {
    if (const ojson* p = get("prompt")) {
      if (!p->is_string()) throw bad_type("prompt", "a string");
      if (!p->get_ref<const std::string&>().empty()) r.inputs.push_back(p->get<std::string>());
    }
  } else if (const ojson* in = get("input")) {
    if (in->is_string()) {
      if (!in->get_ref<const std::string&>().empty()) r.inputs.push_back(in->get<std::string>());
    } else if (in->is_array()) {
      for (const ojson& v : *in) {
        if (!v.is_string()) throw bad_request("invalid input type");
        r.inputs.push_back(v.get<std::string>());
      }
    } else {
      throw bad_request("invalid input type");
    }
  }
  if (const ojson* t = get("truncate")) {
    if (!t->is_boolean()) throw bad_type("truncate", "a boolean");
    r.truncate = t->get<bool>();
  }
  if (const ojson* d = get("dimensions")) {
    if (!d->is_number_integer() || d->get<int64_t>() < 0 || d->get<int64_t>() > (1 << 20))
      throw bad_type("dimensions", "a non-negative integer");
    r.dimensions = int(d->get<int64_t>());
  }
  if (const ojson* o = get("options")) {
    if (!o->is_object()) throw bad_type("options", "an object");
    r.options = nlohmann::json(*o);
  }
  if (const ojson* ka = get("keep_alive")) r.keep_alive = parse_keep_alive(nlohmann::json(*ka));
  return r;
}

struct Embedder {
  ModelPool::Lease lease;
  int limit = 0;  // most tokens one input may have
};

Embedder lease_model(ApiState& state, const EmbedRequest& r) {
  if (!state.models) throw HttpError(500, "the server has no model pool");
  const store::ModelName name = find_model(state.store, r.model);
  engine::Options options;
  try {
    const store::ModelView view = store::view_stored_model(state.store, name);
    options = engine::resolve(&view.parameters, &r.options);
  } catch (const HttpError&) {
    throw;
  } catch (const kiln::Error& e) {
    throw bad_request(e.what());
  }
  Embedder e{state.models->acquire(r.model, options, r.keep_alive), 0};
  e.limit = std::min(options.num_ctx, e.lease->context_length);
  return e;
}

std::vector<int32_t> tokens_of(const tok::Tokenizer& tk, const std::string& text, int limit, bool truncate) {
  std::vector<int32_t> ids = tk.encode(text, false, true);
  if (tk.add_bos() && tk.bos() >= 0 && (ids.empty() || ids.front() != tk.bos())) ids.insert(ids.begin(), tk.bos());
  if (tk.add_eos() && tk.eos() >= 0 && (ids.empty() || ids.back() != tk.eos())) ids.push_back(tk.eos());
  if (int64_t(ids.size()) > limit) {
    if (!truncate) throw bad_request("the input length exceeds the context length");
    ids.resize(size_t(limit));  // Ollama keeps the front of the input
  }
  if (ids.empty()) throw bad_request("cannot embed an empty input");
  return ids;
}

std::vector<float> embed(Embedder& e, std::vector<int32_t> ids) {
  try {
    return e.lease->scheduler->embed(std::move(ids));
  } catch (const HttpError&) {
    throw;
  } catch (const kiln::Error& err) {
    throw bad_request(err.what());  // a model that cannot embed, an input past the context
  }
}

void normalize(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) {
    if (!std::isfinite(x)) throw HttpError(500, "embedding contains NaN or Inf values");
    sum += double(x) * x;
  }
  const double scale = 1.0 / std::max(std::sqrt(sum), 1e-12);
  for (float& x : v) x = float(x * scale);
}

// A float32 written with the fewest digits that read back as the same float,
// as Go marshals a []float32 (plain doubles would print 17 digits).
double json_float(float x) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, x);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

ojson vector_json(const std::vector<float>& v) {
  ojson out = ojson::array();
  for (float x : v) out.push_back(json_float(x));
  return out;
}

void embed_route(ApiState& state, Call& c) {
  const int64_t start = steady_now_ns();
  const EmbedRequest r = parse_embed(parse_ordered_body(c.body()), false);
  Embedder e = lease_model(state, r);
  const tok::Tokenizer& tk = e.lease->scheduler->engine().tokenizer();
  ojson embeddings = ojson::array();
  int64_t tokens = 0;
  for (const std::string& text : r.inputs) {
    std::vector<int32_t> ids = tokens_of(tk, text, e.limit, r.truncate);
    tokens += int64_t(ids.size());
    std::vector<float> v = embed(e, std::move(ids));
    normalize(v);
    if (r.dimensions > 0 && size_t(r.dimensions) < v.size()) {
      v.resize(size_t(r.dimensions));
      normalize(v);
    }
    embeddings.push_back(vector_json(v));
  }
  ojson out = {{"model", r.model}, {"embeddings", std::move(embeddings)}};
  if (!r.inputs.empty()) {
    out["total_duration"] = steady_now_ns() - start;
    out["load_duration"] = e.lease.load_ns();
    out["prompt_eval_count"] = tokens;
  }
  c.json(200, out);
}

void legacy_embeddings_route(ApiState& state, Call& c) {
  const EmbedRequest r = parse_embed(parse_ordered_body(c.body()), true);
  Embedder e = lease_model(state, r);
  if (r.inputs.empty()) {  // an empty prompt only loads the model
    c.json(200, ojson{{"embedding", ojson::array()}});
    return;
  }
  const tok::Tokenizer& tk = e.lease->scheduler->engine().tokenizer();
  const std::vector<float> v = embed(e, tokens_of(tk, r.inputs.front(), e.limit, false));
  c.json(200, ojson{{"embedding", vector_json(v)}});
}

}  // namespace

void add_embed_routes(Router& r, ApiState& state) {
  r.add("POST", "/api/embed", BodyMode::Json, [&state](Call& c) { embed_route(state, c); });
  r.add("POST", "/api/embeddings", BodyMode::Json, [&state](Call& c) { legacy_embeddings_route(state, c); });
}

}  // namespace kiln::server
