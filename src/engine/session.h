#pragma once
// A conversation with one model: what `kiln run` (one-shot and REPL) drives.
//
// A Session holds the loaded Engine, what the model store says about the
// model (chat template, SYSTEM, PARAMETERs, MESSAGEs), the options in force
// (defaults <- model parameters <- /set parameter) and the conversation. A
// turn renders the whole conversation with the chat template, tokenizes it,
// and reuses the KV cache for the longest common prefix with what the
// sequence already holds: only the new tokens are prefilled. Generated
// tokens go through the sampler chain, a StreamDecoder (whole UTF-8
// characters only), the stop strings and, for templates with a thinking
// block, the thinking splitter, and reach the caller through a callback as
// they are produced.
//
// The session knows nothing of the store (kiln_engine does not link it): the
// CLI fills a ModelSetup from the store's layers or from a bare GGUF file.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/threadpool.h"
#include "engine/engine.h"
#include "engine/options.h"
#include "engine/thinking.h"
#include "kv/kv_types.h"

namespace kiln::tmpl {
class ChatTemplate;
}

namespace kiln::engine {

class SamplingWorkspace;
class Grammar;
class TokenTrie;
class TokenMasker;

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

// What a model brings besides its weights.
struct ModelSetup {
  std::string name;                  // for messages: "gemma3:270m" or the file path
  std::filesystem::path weights;     // the GGUF file
  std::string template_text;         // Jinja chat template; empty: the GGUF's own, else kiln's built-in
  std::string system;                // SYSTEM
  nlohmann::json parameters = nlohmann::json::object();  // params layer (Ollama option names)
  std::vector<ChatMessage> messages;  // MESSAGE lines: the conversation starts with them
};

// Engine settings that are not Ollama options.
struct SessionConfig {
  std::string backend = "cpu";
  kv::KvType kv_type = kv::KvType::F16;
  int block_size = 32;
};

// Ollama's timings of one answer, in nanoseconds.
struct Timings {
  int64_t total_ns = 0;
  int64_t load_ns = 0;           // loading the model for this answer (0 when already loaded)
  int64_t prompt_eval_count = 0;  // prompt tokens run through the model (cached ones excluded)
  int64_t prompt_eval_ns = 0;
  int64_t eval_count = 0;        // tokens generated
  int64_t eval_ns = 0;
};

// Why generation ended: Ollama's done_reason ("stop", "length"), plus an
// interrupted generation (Ctrl-C).
enum class DoneReason { Stop, Length, Cancelled };
const char* done_reason_name(DoneReason r);

struct Reply {
  std::string content;   // the answer (stop string and thinking removed)
  std::string thinking;  // the thinking block's text, when the template has one
  DoneReason reason = DoneReason::Stop;
  std::vector<int32_t> tokens;  // the generated token ids (end-of-generation token excluded)
  Timings timings;
};

// Receives generated text as it is released: whole UTF-8 characters, never
// part of a stop string; `thinking` marks text of the thinking block.
using TextSink = runtime::FunctionRef<void(std::string_view text, bool thinking)>;

class Session {
 public:
  // Reads the model's parameters and template and loads the model. Throws
  // kiln::Error for a file that is not a usable GGUF model or parameters
  // out of range.
  explicit Session(ModelSetup setup, SessionConfig config = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const ModelSetup& setup() const { return setup_; }
  Engine& engine() { return *engine_; }
  const tok::Tokenizer& tokenizer() const { return engine_->tokenizer(); }

  // ---- options
  // The options in force: defaults <- model parameters <- set_parameter().
  const Options& options() const { return options_; }
  // What set_parameter() changed, as a params object (for /show parameters).
  const nlohmann::json& user_parameters() const { return user_params_; }
  // One "/set parameter NAME VALUE": parsed and validated as a PARAMETER
  // line; on an error (unknown name, bad value, out of range) nothing
  // changes. Changing num_ctx, num_batch or num_thread reloads the model
  // before the next answer.
  void set_parameter(std::string_view name, std::string_view value);
  // Replaces the stop strings (REPL: "/set parameter stop a b c").
  void set_stops(std::vector<std::string> stops);
  // Constrains answers to a grammar (Ollama's format: "json" is
  // json_object_gbnf(), a schema json_schema_grammar()); nullptr: free text.
  // End of generation is allowed only where the grammar is complete.
  void set_grammar(std::shared_ptr<const Grammar> grammar);
  bool has_grammar() const { return grammar_ != nullptr; }
  // Thinking on/off (the template's enable_thinking); unset: the template's default.
  void set_think(std::optional<bool> think) { think_ = think; }

  // ---- conversation
  const std::string& system() const { return system_; }
  void set_system(std::string system) { system_ = std::move(system); }
  const std::vector<ChatMessage>& history() const { return history_; }
  // Forgets the conversation (the model's MESSAGEs too) and the cached tokens.
  void clear();

  // ---- the chat template
  // The template's source, and where it came from: "model" (the store's
  // template layer), "gguf" (tokenizer.chat_template), "builtin:<name>", or
  // "none" (messages are then joined as plain text).
  const std::string& template_source() const { return template_text_; }
  const std::string& template_origin() const { return template_origin_; }
  // The prompt text for `messages` (system message first when set), ending
  // with the assistant's generation prompt.
  std::string render(const std::vector<ChatMessage>& messages) const;
  // Template text -> token ids (special tokens parsed; BOS added when the
  // vocabulary asks for it and the text does not start with it).
  std::vector<int32_t> tokenize_prompt(std::string_view text) const;

  // ---- generation
  // One chat turn: appends the user message, answers it and appends the
  // answer (its content) to the history, unless cancelled. When the
  // conversation does not fit the context, the oldest messages are dropped
  // (the system message stays), as Ollama does.
  Reply chat(std::string_view user_text, TextSink sink, const std::atomic<bool>* cancel = nullptr);
  // Continues a prompt given as token ids (no template), with the sampler,
  // stop strings and timings of a chat turn. Reuses the cached prefix.
  Reply generate(std::span<const int32_t> prompt, TextSink sink, const std::atomic<bool>* cancel = nullptr);

 private:
  void load();  // (re)creates the engine for the runner options in force
  EngineConfig engine_config() const;
  // Prefills what prompt adds to the cached sequence; returns the logits
  // after its last token, or an empty span when cancelled.
  // generate() after load(): timings except total_ns.
  Reply run(std::span<const int32_t> prompt, TextSink sink, const std::atomic<bool>* cancel);
  std::span<const float> prefill_reusing_cache(std::span<const int32_t> prompt, const std::atomic<bool>* cancel,
                                               int64_t& evaluated);

  ModelSetup setup_;
  SessionConfig config_;
  Options options_;
  nlohmann::json user_params_ = nlohmann::json::object();
  std::optional<bool> think_;
  std::string system_;
  std::vector<ChatMessage> history_;

  int64_t model_context_ = 0;  // the model's trained context (0: unknown)
  std::unique_ptr<Engine> engine_;
  EngineConfig loaded_;        // the config engine_ was built with
  int64_t pending_load_ns_ = 0;  // load time not yet reported in a reply
  std::optional<kv::SeqId> seq_;  // the conversation's cached tokens
  std::unique_ptr<SamplingWorkspace> workspace_;

  std::string template_text_;
  std::string template_origin_;
  std::unique_ptr<tmpl::ChatTemplate> template_;
  std::optional<ThinkingTags> thinking_tags_;

  // Structured output: the grammar, the vocabulary trie (built once, on the
  // first grammar) and the per-grammar mask cache (the GenerationPipeline
  // of each answer masks with it).
  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const TokenTrie> trie_;
  std::unique_ptr<TokenMasker> masker_;
};

}  // namespace kiln::engine
