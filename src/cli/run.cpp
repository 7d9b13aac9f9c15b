// `kiln run MODEL [PROMPT...]`: answers one prompt, or starts Ollama's REPL.
//
// MODEL is a stored model name (its template, SYSTEM, PARAMETERs and
// MESSAGEs apply) or a GGUF file (its own chat template, default options).
// The prompt is the arguments joined by spaces; when stdin is not a terminal
// its text comes first, as `echo hi | ollama run m` does. Without a prompt on
// a terminal (or with the hidden --interactive flag, which tests use to drive
// the REPL through a pipe) the REPL starts.
//
// As with Ollama's CLI, when a server answers at KILN_HOST (GET /api/version
// within 300 ms) a model name is run by that server: each turn is a streamed
// /api/chat (repl_server.cpp) and the model stays loaded there for
// --keepalive. A GGUF file path, --local, or no server runs the model in this
// process.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>

#include "backend/registry.h"
#include "cli/commands.h"
#include "cli/repl.h"
#include "cli/repl_server.h"
#include "client/api_client.h"
#include "core/error.h"
#include "engine/session.h"
#include "gguf/gguf.h"
#include "store/model_view.h"

namespace kiln::cli {
namespace {

struct RunArgs {
  std::string model;
  std::vector<std::string> prompt;
  bool verbose = false;
  bool nowordwrap = false;
  std::string keepalive;
  std::string format;
  bool think = false, nothink = false, hide_thinking = false;
  bool interactive = false;
  bool local = false;
};

// A stored model wins over a file of the same name in the current folder
// (as in `kiln show`); anything else that exists is read as a GGUF file.
store::ModelView resolve_model(const std::string& target) {
  namespace fs = std::filesystem;
  store::ModelStore models(store::ModelStore::default_root());
  std::optional<store::ModelName> stored;
  if (store::ModelName::is_valid(target)) stored = models.find(store::ModelName::parse(target));
  std::error_code ec;
  if (stored) return store::view_stored_model(models, *stored);
  if (fs::is_regular_file(target, ec)) {
    const fs::path path = fs::absolute(target);
    return store::view_gguf_file(path, gguf::File::open(path).get_string("tokenizer.chat_template"));
  }
  if (store::ModelName::is_valid(target))
    throw Error("model '" + store::ModelName::parse(target).display() + "' not found");
  throw Error("no such file or model: " + target);
}

engine::ModelSetup setup_of(const store::ModelView& view) {
  engine::ModelSetup s;
  s.name = view.display_name;
  s.weights = view.weights;
  // A stored model's template layer; for a bare file the session reads the
  // file's own template itself (and falls back to a built-in one).
  if (view.stored) s.template_text = view.template_text;
  s.system = view.system;
  s.parameters = view.parameters;
  for (const auto& m : view.messages) s.messages.push_back({m.role, m.content});
  return s;
}

void on_sigint(int) { interrupt_flag().store(true); }

// Ctrl-C sets the flag instead of ending the process; without SA_RESTART a
// blocked read returns, so the REPL notices it at the prompt too.
void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
}

void run_command(const RunArgs& a) {
  const bool stdin_terminal = ::isatty(STDIN_FILENO) != 0;
  std::string prompt;
  for (const auto& p : a.prompt) prompt += (prompt.empty() ? "" : " ") + p;
  if (!stdin_terminal && !a.interactive) {
    std::string piped((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (!piped.empty()) prompt = prompt.empty() ? piped : piped + " " + prompt;
  }

  const bool repl = a.prompt.empty() && (stdin_terminal || a.interactive);
  const auto grammar = format_grammar(a.format);  // a bad format fails before the model loads

  std::optional<client::ApiClient> server;
  if (!a.local && !std::filesystem::is_regular_file(a.model)) {
    client::ApiClient api = client::ApiClient::from_env();
    if (api.reachable(std::chrono::milliseconds(300))) server.emplace(std::move(api));
  }
  std::optional<store::ModelView> view;
  std::unique_ptr<engine::Session> session;
  std::unique_ptr<Chat> chat;
  if (server) {
    auto remote = std::make_unique<ServerChat>(*server, a.model, a.keepalive);
    remote->set_format(a.format);
    if (a.think) remote->set_think(true);
    if (a.nothink) remote->set_think(false);
    if (repl) remote->preload();
    chat = std::move(remote);
    // /show reads the local store when it holds the model (same machine).
    try {
      view = resolve_model(a.model);
    } catch (const Error&) {
      view.emplace();
      view->display_name = a.model;
    }
  } else {
    view = resolve_model(a.model);
    engine::SessionConfig config;
    // As the server: KILN_BACKEND, else the CPU when KILN_NUM_GPU=0, else the GPU when one is visible.
    if (const char* backend = std::getenv("KILN_BACKEND"); backend && *backend)
      config.backend = backend;
    else if (const char* n = std::getenv("KILN_NUM_GPU"); n && std::string(n) == "0")
      config.backend = "cpu";
    else
      config.backend = backend::default_backend();
    session = std::make_unique<engine::Session>(setup_of(*view), config);
    session->set_grammar(grammar);
    if (a.think) session->set_think(true);
    if (a.nothink) session->set_think(false);
    chat = std::make_unique<LocalChat>(*session);
  }

  if (repl) {
    install_interrupt_handler();
    Repl r(*chat, *view, std::cin, std::cout, std::cerr, {.verbose = a.verbose, .hide_thinking = a.hide_thinking});
    r.run();
    return;
  }
  if (prompt.find_first_not_of(" \t\r\n") == std::string::npos) return;  // nothing to ask: the model loaded, done

  AnswerPrinter printer(std::cout, a.hide_thinking);
  const engine::Reply reply =
      chat->chat(prompt, [&](std::string_view text, bool thinking) { printer.write(text, thinking); }, nullptr);
  printer.finish();
  if (a.verbose) print_timings(std::cerr, reply.timings);
}

}  // namespace

void add_run(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Run a model: answer a prompt, or chat interactively");
  cmd->add_option("model", args->model, "Model name or path to a .gguf file")->required();
  cmd->add_option("prompt", args->prompt, "Prompt (the rest of the arguments, joined by spaces)");
  cmd->add_flag("--verbose", args->verbose, "Show timings for each answer");
  cmd->add_flag("--nowordwrap", args->nowordwrap, "Don't wrap words to the next line (kiln never wraps)");
  cmd->add_option("--keepalive", args->keepalive,
                  "How long the server keeps the model loaded: 5m, 1h, -1m (forever); server mode");
  cmd->add_flag("--local", args->local, "Load the model in this process even when a server is running");
  cmd->add_option("--format", args->format, "Response format: json, or a JSON schema");
  cmd->add_flag("--think,!--nothink", args->think,
                "Enable thinking for models whose template has it (--think=false or --nothink: disable)");
  cmd->add_flag("--hidethinking", args->hide_thinking, "Don't print the thinking block");
  cmd->add_flag("--interactive", args->interactive, "Start the REPL even when stdin is not a terminal")
      ->group("");  // hidden: for tests
  cmd->callback([args, cmd] {
    RunArgs a = *args;
    // --think=false / --nothink count as an explicit "off"; absent means the template's default.
    if (cmd->count("--think") > 0 && !a.think) a.nothink = true;
    run_command(a);
  });
}

}  // namespace kiln::cli
