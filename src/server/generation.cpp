// start_chat / start_generate: everything that can fail with a client error
// before the answer's first byte (server/generation.h).
#include "server/generation.h"

#include <algorithm>
#include <random>

#include "engine/grammar.h"
#include "engine/json_schema.h"
#include "engine/options.h"
#include "engine/tool_call_format.h"
#include "server/generation_answer.h"
#include "server/generation_prompt.h"
#include "server/generation_request.h"
#include "server/http_error.h"
#include "server/model_lookup.h"
#include "store/model_view.h"
#include "template/chat_template.h"

namespace kiln::server {
namespace {

using ojson = nlohmann::ordered_json;

// "json" (any object) or a schema; null: free text. A schema kiln cannot
// enforce is the client's error.
std::shared_ptr<const engine::Grammar> format_grammar(const ojson& format) {
  if (format.is_null()) return nullptr;
  try {
    if (format.is_string()) {
      static const std::shared_ptr<const engine::Grammar> json_object =
          engine::Grammar::parse(engine::json_object_gbnf());  // immutable: parsed once
      return json_object;
    }
    return engine::json_schema_grammar(format);
  } catch (const kiln::Error& e) {
    throw bad_request(std::string("invalid format: ") + e.what());
  }
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// What every generation request needs before the model is leased.
struct Prepared {
  std::string model_name;  // canonical, for unload()
  engine::Options options;
  std::shared_ptr<const engine::Grammar> grammar;
};

Prepared prepare(ApiState& state, const NativeRequest& req) {
  if (!state.models) throw HttpError(500, "the server has no model pool");
  const store::ModelName name = find_model(state.store, req.model);  // 400 invalid, 404 unknown
  store::ModelView view;
  try {
    view = store::view_stored_model(state.store, name);
  } catch (const kiln::Error& e) {
    throw HttpError(500, e.what());  // a broken layer in the store
  }
  Prepared p;
  p.model_name = name.display();
  try {
    p.options = engine::resolve(&view.parameters, &req.options);
  } catch (const kiln::Error& e) {
    throw bad_request(e.what());
  }
  if (req.has_images) throw bad_request("this model does not support images");
  p.grammar = format_grammar(req.format);
  return p;
}

bool unloads(const NativeRequest& req) { return req.keep_alive && req.keep_alive->duration.count() == 0; }

// Whether the answer is split into thinking and content, and the
// enable_thinking the template sees. Models with a thinking block think
// unless told not to (Ollama's default); asking a model without one to
// think is an error.
struct ThinkPlan {
  std::optional<bool> template_value;
  std::optional<engine::ThinkingTags> tags;
};

ThinkPlan plan_thinking(const LoadedModel& m, const NativeRequest& req) {
  ThinkPlan plan;
  if (!m.thinking) {
    if (req.think.value_or(false)) throw bad_request(quoted(req.model) + " does not support thinking");
    plan.template_value = req.think;
    return plan;
  }
  const bool on = req.think.value_or(true);
  plan.template_value = on;
  if (on) plan.tags = m.thinking;
  return plan;
}

std::optional<engine::ToolCallParser> tool_parser(const LoadedModel& m, const NativeRequest& req) {
  if (req.tools.is_null()) return std::nullopt;
  engine::ToolCallFormat format;
  if (m.chat_template) {
    const tok::Tokenizer& tk = m.scheduler->engine().tokenizer();
    const std::string bos = tk.bos() >= 0 ? std::string(tk.token_text(tk.bos())) : std::string();
    const std::string eos = tk.eos() >= 0 ? std::string(tk.token_text(tk.eos())) : std::string();
    format = engine::detect_tool_call_format(m.chat_template->source(), bos, eos);
  }
  if (!format.from_template) throw bad_request(quoted(req.model) + " does not support tools");
  return engine::ToolCallParser(format, tool_names(req.tools), std::random_device{}());
}

PromptLimits limits_of(const LoadedModel& m, const engine::Options& options, const NativeRequest& req) {
  return {std::min(options.num_ctx, m.context_length), options.num_keep, req.truncate};
}

std::shared_ptr<engine::RequestHandle> submit(LoadedModel& m, engine::GenerateParams params) {
  try {
    return m.scheduler->submit(std::move(params));
  } catch (const engine::QueueFull&) {
    throw HttpError(503, "server busy, please try again. maximum pending requests exceeded");
  } catch (const kiln::Error& e) {
    throw bad_request(e.what());
  }
}

engine::GenerateParams params_of(std::vector<int32_t> prompt, const Prepared& p, const ThinkPlan& think,
                                 const NativeRequest& req) {
  engine::GenerateParams params;
  params.prompt = std::move(prompt);
  params.options = p.options;
  params.grammar = p.grammar;
  params.thinking = think.tags;
  params.top_logprobs = req.logprobs || req.top_logprobs > 0 ? req.top_logprobs : -1;
  return params;
}

// An empty prompt / no messages: load the model (or unload it with
// keep_alive 0) and say so, as Ollama does.
std::unique_ptr<NativeGeneration> lifecycle_answer(ApiState& state, const NativeRequest& req, const Prepared& p,
                                                   const ChunkBuilder& builder) {
  if (unloads(req)) {
    state.models->unload(p.model_name);
    return std::make_unique<FixedAnswer>(builder.lifecycle("unload"));
  }
  ModelPool::Lease lease = state.models->acquire(req.model, p.options, req.keep_alive);
  return std::make_unique<FixedAnswer>(builder.lifecycle("load"), std::move(lease));
}

}  // namespace

std::unique_ptr<NativeGeneration> start_chat(ApiState& state, const ojson& body) {
  const int64_t start = steady_now_ns();
  const NativeRequest req = parse_chat_request(body);
  const Prepared p = prepare(state, req);
  ChunkBuilder builder(req.model, true, req.top_logprobs > 0);
  if (req.messages.empty()) return lifecycle_answer(state, req, p, builder);

  ModelPool::Lease lease = state.models->acquire(req.model, p.options, req.keep_alive);
  const ThinkPlan think = plan_thinking(*lease, req);
  std::optional<engine::ToolCallParser> tools = tool_parser(*lease, req);
  BuiltPrompt prompt = build_chat_prompt(*lease, req, think.template_value, limits_of(*lease, p.options, req));
  auto handle = submit(*lease, params_of(std::move(prompt.tokens), p, think, req));
  return std::make_unique<EngineAnswer>(EngineAnswerSetup{
      .lease = std::move(lease),
      .handle = std::move(handle),
      .builder = std::move(builder),
      .tools = std::move(tools),
      .logprobs = req.logprobs || req.top_logprobs > 0,
      .context_prefix = std::nullopt,
      .start_ns = start,
  });
}

std::unique_ptr<NativeGeneration> start_generate(ApiState& state, const ojson& body) {
  const int64_t start = steady_now_ns();
  const NativeRequest req = parse_generate_request(body);
  const Prepared p = prepare(state, req);
  // No kiln template has a fill-in-the-middle form (Ollama's "insert").
  if (!req.suffix.empty()) throw bad_request(quoted(req.model) + " does not support insert");
  ChunkBuilder builder(req.model, false, req.top_logprobs > 0);
  if (req.prompt.empty()) return lifecycle_answer(state, req, p, builder);

  ModelPool::Lease lease = state.models->acquire(req.model, p.options, req.keep_alive);
  const ThinkPlan think = req.raw ? ThinkPlan{} : plan_thinking(*lease, req);
  BuiltPrompt prompt = build_generate_prompt(*lease, req, think.template_value, limits_of(*lease, p.options, req));
  std::optional<std::vector<int32_t>> context;
  if (!req.raw) context = prompt.tokens;
  auto handle = submit(*lease, params_of(std::move(prompt.tokens), p, think, req));
  return std::make_unique<EngineAnswer>(EngineAnswerSetup{
      .lease = std::move(lease),
      .handle = std::move(handle),
      .builder = std::move(builder),
      .tools = std::nullopt,
      .logprobs = req.logprobs || req.top_logprobs > 0,
      .context_prefix = std::move(context),
      .start_ns = start,
  });
}

}  // namespace kiln::server
