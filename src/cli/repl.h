#pragma once
// The interactive side of `kiln run`: Ollama's REPL. Reads messages from an
// input stream (">>> " prompt, `"""` for multi-line text), streams answers to
// an output stream, and understands /set, /show, /clear, /bye and /?.
// Timings (--verbose, /set verbose) go to a separate stream, as Ollama prints
// them on stderr.
//
// Ctrl-C: run.cpp installs a SIGINT handler that sets interrupt_flag(); the
// REPL passes it to the session as the cancel flag, so Ctrl-C stops an
// answer and returns to the prompt, and at the prompt it only reminds how to
// leave. Ctrl-D (end of input) or /bye exits.
#include <atomic>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/grammar.h"
#include "engine/session.h"
#include "store/model_view.h"

namespace kiln::cli {

struct ReplOptions {
  bool verbose = false;        // timings after each answer
  bool hide_thinking = false;  // do not print the thinking block
};

// Ollama's format: "json" (any JSON object) or a JSON schema as text; ""
// gives nullptr (free text). Throws kiln::Error for anything else.
std::shared_ptr<const engine::Grammar> format_grammar(const std::string& format);

// Set by the SIGINT handler; cleared by the REPL once handled.
std::atomic<bool>& interrupt_flag();

// Writes an answer's text as it streams: thinking framed as Ollama frames it
// ("Thinking..." / "...done thinking.") unless hidden. finish() ends the
// answer with a newline and tells whether anything was written.
class AnswerPrinter {
 public:
  AnswerPrinter(std::ostream& out, bool hide_thinking) : out_(out), hide_thinking_(hide_thinking) {}
  void write(std::string_view text, bool thinking);
  void finish();

 private:
  std::ostream& out_;
  bool hide_thinking_;
  bool in_thinking_ = false;
  bool wrote_ = false;
  char last_ = '\n';
};

// Ollama's --verbose block: total duration, load duration, prompt eval
// count/duration/rate, eval count/duration/rate; durations as Go prints them.
void print_timings(std::ostream& out, const engine::Timings& t);
// Go's time.Duration.String(): "1.5s", "12.345ms", "532µs", "2m3.1s".
std::string go_duration(int64_t ns);

// What `kiln run` chats with: the model loaded in this process (LocalChat)
// or a running server (ServerChat, repl_server.cpp), as Ollama's CLI talks
// to its server. The REPL and the one-shot prompt use only this.
class Chat {
 public:
  virtual ~Chat() = default;
  // One turn: the user's message answered (text streamed to sink) and both
  // kept in the conversation unless cancelled. Throws kiln::Error.
  virtual engine::Reply chat(const std::string& message, engine::TextSink sink,
                             const std::atomic<bool>* cancel) = 0;
  virtual void clear() = 0;
  // "/set parameter": validated as a PARAMETER line; throws kiln::Error and
  // changes nothing on a bad name or value.
  virtual void set_parameter(std::string_view name, std::string_view value) = 0;
  virtual void set_stops(std::vector<std::string> stops) = 0;
  virtual const nlohmann::json& user_parameters() const = 0;
  virtual void set_system(std::string system) = 0;
  virtual const std::string& system() const = 0;
  // "json", a JSON schema, or "" for free text; throws kiln::Error for anything else.
  virtual void set_format(const std::string& format) = 0;
  virtual void set_think(std::optional<bool> think) = 0;
  virtual std::string template_source() = 0;
  // /show info's "Session" rows (context in use, threads or server, template).
  virtual std::vector<std::vector<std::string>> session_rows() = 0;
};

// The model loaded here, through an engine::Session.
class LocalChat : public Chat {
 public:
  explicit LocalChat(engine::Session& session) : session_(session) {}
  engine::Reply chat(const std::string& message, engine::TextSink sink, const std::atomic<bool>* cancel) override;
  void clear() override { session_.clear(); }
  void set_parameter(std::string_view name, std::string_view value) override { session_.set_parameter(name, value); }
  void set_stops(std::vector<std::string> stops) override { session_.set_stops(std::move(stops)); }
  const nlohmann::json& user_parameters() const override { return session_.user_parameters(); }
  void set_system(std::string system) override { session_.set_system(std::move(system)); }
  const std::string& system() const override { return session_.system(); }
  void set_format(const std::string& format) override { session_.set_grammar(format_grammar(format)); }
  void set_think(std::optional<bool> think) override { session_.set_think(think); }
  std::string template_source() override { return session_.template_source(); }
  std::vector<std::vector<std::string>> session_rows() override;

 private:
  engine::Session& session_;
};

class Repl {
 public:
  // `view` describes the model for /show (weights may be empty when the
  // model lives only on a server: /show info then has no Model section).
  Repl(Chat& chat, const store::ModelView& view, std::istream& in, std::ostream& out, std::ostream& err,
       ReplOptions options);
  // Runs until /bye or the end of input.
  void run();

 private:
  // One logical input: a line, or the text between `"""` and `"""`. False at
  // the end of input.
  bool read_message(std::string& message);
  bool read_line(std::string& line, const char* prompt);
  // Handles a /command; false when it asks to leave.
  bool command(const std::string& line);
  void set_command(const std::string& args);
  void show_command(const std::string& args);
  void help(const std::string& topic);
  void answer(const std::string& message);

  Chat& session_;
  const store::ModelView& view_;
  std::istream& in_;
  std::ostream& out_;
  std::ostream& err_;
  ReplOptions options_;
};

}  // namespace kiln::cli
