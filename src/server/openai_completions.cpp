// OpenAI completions <-> Ollama /api/generate.
#include "server/openai_completions.h"

#include "server/http_error.h"

namespace kiln::server::openai {
namespace {

constexpr const char* kFingerprint = "fp_kiln";

std::string prompt_of(const ojson& body) {
  const ojson* p = field(body, "prompt");
  if (!p) throw bad_request("missing required parameter: 'prompt'");
  if (p->is_string()) return p->get<std::string>();
  // One prompt in a list is still one prompt; more would need several
  // choices, and token ids would bypass the template the layer applies.
  if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) return (*p)[0].get<std::string>();
  if (p->is_array() && !p->empty() && ((*p)[0].is_number() || (*p)[0].is_array()))
    throw bad_request("invalid value for 'prompt': token arrays are not supported, send the prompt as text");
  if (p->is_array()) throw bad_request("invalid value for 'prompt': exactly one prompt string is supported");
  type_error("prompt", "a string", *p);
}

std::string response_of(const ojson& chunk) {
  const ojson* r = field(chunk, "response");
  return r && r->is_string() ? r->get<std::string>() : std::string();
}

}  // namespace

CompletionTranslation completion_request(const ojson& body) {
  CompletionTranslation t;
  require_single_choice(body);
  ojson& native = t.native;
  native = ojson::object();
  if (const ojson* model = field(body, "model")) native["model"] = *model;
  const std::string prompt = prompt_of(body);
  native["prompt"] = prompt;
  if (auto suffix = string_field(body, "suffix"); suffix && !suffix->empty()) native["suffix"] = *suffix;
  t.stream = bool_field(body, "stream").value_or(false);
  if (const ojson* so = field(body, "stream_options")) {
    if (!so->is_object()) type_error("stream_options", "an object", *so);
    t.include_usage = bool_field(*so, "include_usage").value_or(false);
  }
  if (auto lp = integer_field(body, "logprobs")) {
    if (*lp < 0 || *lp > 5) throw bad_request("invalid value for 'logprobs': must be between 0 and 5");
    t.logprobs = static_cast<int>(*lp);
    native["logprobs"] = true;
    native["top_logprobs"] = *lp;
  }
  if (bool_field(body, "echo").value_or(false)) {
    if (t.logprobs >= 0)
      throw bad_request("'echo' together with 'logprobs' is not supported (prompt logprobs are not computed)");
    t.echo_prefix = prompt;
  }
  ojson options = ojson::object();
  sampling_options(body, {"max_tokens"}, options);
  native["options"] = std::move(options);
  native["raw"] = false;
  native["stream"] = t.stream;
  return t;
}

ojson completion_logprobs(const ojson& native_logprobs, int alternatives, int64_t& offset) {
  ojson tokens = ojson::array(), token_logprobs = ojson::array(), top = ojson::array(), offsets = ojson::array();
  for (const auto& lp : native_logprobs) {
    if (!lp.is_object()) continue;
    const std::string token = lp.value("token", "");
    tokens.push_back(token);
    token_logprobs.push_back(lp.value("logprob", 0.0));
    offsets.push_back(offset);
    offset += static_cast<int64_t>(token.size());
    if (alternatives == 0) {
      top.push_back(nullptr);
      continue;
    }
    ojson alts = ojson::object();
    if (const ojson* list = field(lp, "top_logprobs"); list && list->is_array())
      for (const auto& alt : *list)
        if (alt.is_object()) alts[alt.value("token", "")] = alt.value("logprob", 0.0);
    top.push_back(std::move(alts));
  }
  return {{"tokens", std::move(tokens)},
          {"token_logprobs", std::move(token_logprobs)},
          {"top_logprobs", std::move(top)},
          {"text_offset", std::move(offsets)}};
}

ojson text_completion(const ojson& merged, const CompletionTranslation& request, const std::string& id,
                      int64_t created) {
  ojson logprobs = nullptr;
  if (request.logprobs >= 0) {
    int64_t offset = static_cast<int64_t>(request.echo_prefix.size());
    const ojson* lp = field(merged, "logprobs");
    logprobs = completion_logprobs(lp && lp->is_array() ? *lp : ojson::array(), request.logprobs, offset);
  }
  ojson choice = {{"text", request.echo_prefix + response_of(merged)},
                  {"index", 0},
                  {"logprobs", std::move(logprobs)},
                  {"finish_reason", finish_reason(merged, false)}};
  return {{"id", id},
          {"object", "text_completion"},
          {"created", created},
          {"model", merged.value("model", "")},
          {"system_fingerprint", kFingerprint},
          {"choices", ojson::array({std::move(choice)})},
          {"usage", usage(merged)}};
}

CompletionChunkTranslator::CompletionChunkTranslator(const CompletionTranslation& request, std::string id,
                                                     int64_t created)
    : id_(std::move(id)),
      created_(created),
      include_usage_(request.include_usage),
      logprobs_(request.logprobs),
      pending_echo_(request.echo_prefix),
      offset_(static_cast<int64_t>(request.echo_prefix.size())) {}

ojson CompletionChunkTranslator::chunk(std::string text, ojson logprobs, const ojson& finish) const {
  ojson choice = {{"text", std::move(text)}, {"index", 0}, {"logprobs", std::move(logprobs)}, {"finish_reason", finish}};
  ojson c = {{"id", id_},
             {"object", "text_completion"},
             {"created", created_},
             {"model", model_},
             {"system_fingerprint", kFingerprint},
             {"choices", ojson::array({std::move(choice)})}};
  if (include_usage_) c["usage"] = nullptr;
  return c;
}

std::vector<ojson> CompletionChunkTranslator::translate(const ojson& native) {
  std::vector<ojson> out;
  if (done_ || failed_) return out;
  if (const ojson* err = field(native, "error")) {
    failed_ = true;
    out.push_back(stream_error(err->is_string() ? err->get<std::string>() : err->dump()));
    return out;
  }
  if (model_.empty()) model_ = native.value("model", "");
  std::string text = std::move(pending_echo_) + response_of(native);
  pending_echo_.clear();
  ojson logprobs = nullptr;
  const ojson* lp = field(native, "logprobs");
  const bool has_logprobs = lp && lp->is_array() && !lp->empty();
  if (logprobs_ >= 0 && has_logprobs) logprobs = completion_logprobs(*lp, logprobs_, offset_);
  if (native.value("done", false)) {
    out.push_back(chunk(std::move(text), std::move(logprobs), finish_reason(native, false)));
    if (include_usage_) {
      ojson u = chunk("", nullptr, nullptr);
      u["choices"] = ojson::array();
      u["usage"] = usage(native);
      out.push_back(std::move(u));
    }
    done_ = true;
  } else if (!text.empty() || has_logprobs) {
    out.push_back(chunk(std::move(text), std::move(logprobs), nullptr));
  }
  return out;
}

}  // namespace kiln::server::openai
