// Session: model setup, options, chat template and the conversation. The
// generation loop itself is in session_generate.cpp.
#include "engine/session.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "engine/chat_template_select.h"
#include "engine/grammar_mask.h"
#include "engine/sampling.h"
#include "gguf/gguf.h"
#include "kv/kv_cache.h"
#include "models/model_config.h"
#include "template/chat_template.h"

namespace kiln::engine {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const char* done_reason_name(DoneReason r) {
  switch (r) {
    case DoneReason::Stop: return "stop";
    case DoneReason::Length: return "length";
    case DoneReason::Cancelled: return "cancelled";
  }
  return "stop";
}

Session::Session(ModelSetup setup, SessionConfig config) : setup_(std::move(setup)), config_(std::move(config)) {
  options_ = resolve(&setup_.parameters, nullptr);
  system_ = setup_.system;
  for (const ChatMessage& m : setup_.messages) history_.push_back(m);

  // The file's metadata first: its trained context caps num_ctx, and its
  // template is the fallback when the store has none (or one kiln cannot
  // parse, such as a Go template from Ollama's registry).
  const gguf::File file = gguf::File::open(setup_.weights);
  const models::ModelConfig mc = models::read_config(file);
  model_context_ = mc.context_length;
  load();

  SelectedTemplate chosen = select_chat_template(setup_.template_text, file, mc.arch_name, engine_->tokenizer());
  template_ = std::move(chosen.parsed);
  template_text_ = std::move(chosen.source);
  template_origin_ = std::move(chosen.origin);
  if (template_) thinking_tags_ = detect_thinking_tags(template_text_);
}

Session::~Session() = default;

EngineConfig Session::engine_config() const {
  EngineConfig c;
  c.backend = config_.backend;
  c.threads = options_.num_thread;
  c.context = options_.num_ctx;
  if (model_context_ > 0) c.context = int(std::min<int64_t>(c.context, model_context_));
  c.batch = std::min(options_.num_batch, c.context);
  c.kv_type = config_.kv_type;
  c.block_size = config_.block_size;
  return c;
}

void Session::load() {
  const EngineConfig wanted = engine_config();
  if (engine_ && wanted.threads == loaded_.threads && wanted.context == loaded_.context &&
      wanted.batch == loaded_.batch)
    return;
  const int64_t t0 = now_ns();
  seq_.reset();
  engine_.reset();  // the old KV cache goes before the new one is allocated
  engine_ = std::make_unique<Engine>(setup_.weights, wanted);
  loaded_ = wanted;
  workspace_ = std::make_unique<SamplingWorkspace>(int32_t(engine_->n_vocab()));
  pending_load_ns_ += now_ns() - t0;
}

void Session::set_parameter(std::string_view name, std::string_view value) {
  Options next = options_;
  apply_parameter(next, name, value);  // throws, naming the option, before anything changes
  nlohmann::json params = user_params_;
  const nlohmann::json all = to_json(next);
  if (all.contains(std::string(name))) params[std::string(name)] = all[std::string(name)];
  options_ = std::move(next);
  user_params_ = std::move(params);
}

void Session::set_grammar(std::shared_ptr<const Grammar> grammar) {
  masker_.reset();
  grammar_ = std::move(grammar);
  if (!grammar_) return;
  if (!trie_) trie_ = std::make_shared<const TokenTrie>(engine_->tokenizer());
  masker_ = std::make_unique<TokenMasker>(grammar_, trie_);
}

void Session::set_stops(std::vector<std::string> stops) {
  Options next = options_;
  next.stop.clear();
  for (std::string& s : stops)
    if (!s.empty()) next.stop.push_back(std::move(s));
  validate(next);
  user_params_["stop"] = next.stop;
  options_ = std::move(next);
}

void Session::clear() {
  history_.clear();
  if (seq_) {
    engine_->free_sequence(*seq_);
    seq_.reset();
  }
}

std::string Session::render(const std::vector<ChatMessage>& messages) const {
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  if (!system_.empty()) msgs.push_back({{"role", "system"}, {"content", system_}});
  for (const ChatMessage& m : messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  if (!template_) {
    // No chat template: the conversation as plain text, as Ollama's
    // "{{ .Prompt }}" default does for a single prompt.
    std::string text;
    for (const auto& m : msgs) text += (text.empty() ? "" : "\n\n") + m["content"].get<std::string>();
    return text;
  }
  tmpl::ChatInputs in;
  in.messages = std::move(msgs);
  in.add_generation_prompt = true;
  if (think_) in.extra_context["enable_thinking"] = *think_;
  return template_->render(in);
}

std::vector<int32_t> Session::tokenize_prompt(std::string_view text) const {
  const tok::Tokenizer& tk = engine_->tokenizer();
  std::vector<int32_t> ids = tk.encode(text, false, true);
  // Templates usually write {{ bos_token }} themselves; add it only when they
  // did not and the vocabulary asks for one.
  if (tk.add_bos() && tk.bos() >= 0 && (ids.empty() || ids.front() != tk.bos())) ids.insert(ids.begin(), tk.bos());
  return ids;
}

Reply Session::chat(std::string_view user_text, TextSink sink, const std::atomic<bool>* cancel) {
  const int64_t t0 = now_ns(), loaded_before = pending_load_ns_;
  load();
  std::vector<ChatMessage> convo = history_;
  convo.push_back({"user", std::string(user_text)});

  // Drop the oldest messages until the prompt leaves room to answer; the
  // newest user message always stays.
  const int64_t context = loaded_.context;
  std::vector<int32_t> prompt = tokenize_prompt(render(convo));
  size_t first = 0;
  while (int64_t(prompt.size()) >= context && first + 1 < convo.size()) {
    ++first;
    while (first + 1 < convo.size() && convo[first].role != "user") ++first;  // start at a user turn
    prompt = tokenize_prompt(render(std::vector<ChatMessage>(convo.begin() + long(first), convo.end())));
  }
  if (int64_t(prompt.size()) >= context)
    throw kiln::Error("the prompt is " + std::to_string(prompt.size()) + " tokens, more than the context of " +
                      std::to_string(context) + " holds (num_ctx)");

  Reply reply = run(prompt, sink, cancel);
  // Ollama's total includes loading, also a load done before this call.
  reply.timings.total_ns = now_ns() - t0 + loaded_before;
  if (reply.reason != DoneReason::Cancelled) {
    history_ = std::vector<ChatMessage>(convo.begin() + long(first), convo.end());
    history_.push_back({"assistant", reply.content});
  }
  return reply;
}

}  // namespace kiln::engine
