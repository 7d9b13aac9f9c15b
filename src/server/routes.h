#pragma once
// The API's routes, one file per group.
#include "server/api_state.h"
#include "server/router.h"

namespace kiln::server {

// GET/HEAD /, GET/HEAD /api/version, GET /api/ps.
void add_info_routes(Router& router, ApiState& state);
// GET/HEAD /api/tags, POST /api/show, POST /api/copy, DELETE /api/delete.
void add_model_routes(Router& router, ApiState& state);
// HEAD/POST /api/blobs/:digest.
void add_blob_routes(Router& router, ApiState& state);
// POST /api/create.
void add_create_routes(Router& router, ApiState& state);
// GET /v1/models, GET /v1/models/{id}.
void add_openai_model_routes(Router& router, ApiState& state);

// POST /api/generate, POST /api/chat (native handlers: server/generation.h).
void add_generate_routes(Router& router, ApiState& state);
// POST /api/embed, POST /api/embeddings (legacy).
void add_embed_routes(Router& router, ApiState& state);
// POST /v1/chat/completions, /v1/completions, /v1/embeddings: a translation
// layer over the native handlers.
void add_openai_routes(Router& router, ApiState& state);
// POST /api/pull (Ollama's registry protocol, streamed progress).
void add_pull_routes(Router& router, ApiState& state);
// GET /metrics (Prometheus text format).
void add_metrics_routes(Router& router, ApiState& state);

inline void add_management_routes(Router& router, ApiState& state) {
  add_info_routes(router, state);
  add_model_routes(router, state);
  add_blob_routes(router, state);
  add_create_routes(router, state);
  add_openai_model_routes(router, state);
}

}  // namespace kiln::server
