// The `kiln run` REPL: input, commands and answers. Wording follows Ollama's
// interactive mode so that its users find the same commands and replies.
#include "cli/repl.h"

#include <cstdio>
#include <iostream>
#include <sstream>

#include "core/cpu_features.h"
#include "core/error.h"
#include "engine/json_schema.h"
#include "gguf/gguf.h"
#include "store/humanize.h"
#include "store/model_info.h"
#include "store/parameters.h"

namespace kiln::cli {

namespace {

constexpr std::string_view kQuotes = R"(""")";

std::string trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Splits off the first word: ("parameter seed 42") -> "parameter", rest "seed 42".
std::string first_word(const std::string& s, std::string& rest) {
  const std::string t = trim(s);
  const size_t sp = t.find_first_of(" \t");
  rest = sp == std::string::npos ? std::string() : trim(t.substr(sp));
  return t.substr(0, sp);
}

void print_params(std::ostream& out, const nlohmann::json& params) {
  for (const auto& [key, value] : store::param_lines(params)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%-30s ", key.c_str());
    out << buf << value << "\n";
  }
}

}  // namespace

std::shared_ptr<const engine::Grammar> format_grammar(const std::string& format) {
  if (format.empty()) return nullptr;
  if (format == "json") return engine::Grammar::parse(engine::json_object_gbnf());
  const auto schema = nlohmann::ordered_json::parse(format, nullptr, false);
  if (schema.is_discarded() || !schema.is_object())
    throw Error("invalid format '" + format + "': use json or a JSON schema object");
  return engine::json_schema_grammar(schema);
}

std::atomic<bool>& interrupt_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

void AnswerPrinter::write(std::string_view text, bool thinking) {
  if (text.empty() || (thinking && hide_thinking_)) return;
  if (thinking && !in_thinking_) {
    out_ << "Thinking...\n";
    in_thinking_ = true;
  } else if (!thinking && in_thinking_) {
    out_ << (last_ == '\n' ? "" : "\n") << "...done thinking.\n\n";
    in_thinking_ = false;
  }
  out_ << text << std::flush;
  last_ = text.back();
  wrote_ = true;
}

void AnswerPrinter::finish() {
  if (in_thinking_) out_ << (last_ == '\n' ? "" : "\n") << "...done thinking.\n\n", in_thinking_ = false;
  out_ << "\n" << std::flush;
}

std::string go_duration(int64_t ns) {
  if (ns == 0) return "0s";
  const bool neg = ns < 0;
  uint64_t u = neg ? uint64_t(-ns) : uint64_t(ns);
  // A fraction with its trailing zeros dropped: frac(1500, 3) -> ".5".
  auto fraction = [](uint64_t v, int digits) {
    std::string s = std::to_string(v);
    s.insert(0, size_t(digits) - s.size(), '0');
    while (!s.empty() && s.back() == '0') s.pop_back();
    return s.empty() ? s : "." + s;
  };
  std::string out;
  if (u < 1000) {
    out = std::to_string(u) + "ns";
  } else if (u < 1000000) {
    out = std::to_string(u / 1000) + fraction(u % 1000, 3) + "\u00b5s";
  } else if (u < 1000000000) {
    out = std::to_string(u / 1000000) + fraction(u % 1000000, 6) + "ms";
  } else {
    const uint64_t secs = u / 1000000000, frac = u % 1000000000;
    const uint64_t h = secs / 3600, m = secs / 60 % 60, s = secs % 60;
    if (h) out += std::to_string(h) + "h";
    if (h || m) out += std::to_string(m) + "m";
    out += std::to_string(s) + fraction(frac, 9) + "s";
  }
  return neg ? "-" + out : out;
}

void print_timings(std::ostream& out, const engine::Timings& t) {
  auto rate = [](int64_t count, int64_t ns) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f tokens/s", ns > 0 ? double(count) / (double(ns) * 1e-9) : 0.0);
    return std::string(buf);
  };
  out << "total duration:       " << go_duration(t.total_ns) << "\n";
  out << "load duration:        " << go_duration(t.load_ns) << "\n";
  out << "prompt eval count:    " << t.prompt_eval_count << " token(s)\n";
  out << "prompt eval duration: " << go_duration(t.prompt_eval_ns) << "\n";
  out << "prompt eval rate:     " << rate(t.prompt_eval_count, t.prompt_eval_ns) << "\n";
  out << "eval count:           " << t.eval_count << " token(s)\n";
  out << "eval duration:        " << go_duration(t.eval_ns) << "\n";
  out << "eval rate:            " << rate(t.eval_count, t.eval_ns) << "\n";
  out << std::flush;
}

engine::Reply LocalChat::chat(const std::string& message, engine::TextSink sink, const std::atomic<bool>* cancel) {
  return session_.chat(message, sink, cancel);
}

std::vector<std::vector<std::string>> LocalChat::session_rows() {
  const engine::EngineConfig& c = session_.engine().config();
  return {{"context in use", std::to_string(c.context)},
          {"threads", std::to_string(c.threads > 0 ? c.threads : runtime::physical_core_count())},
          {"chat template", session_.template_origin()}};
}

Repl::Repl(Chat& chat, const store::ModelView& view, std::istream& in, std::ostream& out, std::ostream& err,
           ReplOptions options)
    : session_(chat), view_(view), in_(in), out_(out), err_(err), options_(options) {}

bool Repl::read_line(std::string& line, const char* prompt) {
  for (;;) {
    out_ << prompt << std::flush;
    if (std::getline(in_, line)) return true;
    // A read interrupted by Ctrl-C fails like end of input; tell them apart.
    if (interrupt_flag().exchange(false)) {
      in_.clear();
      std::clearerr(stdin);
      out_ << "\nUse Ctrl + d or /bye to exit.\n";
      continue;
    }
    return false;
  }
}

bool Repl::read_message(std::string& message) {
  std::string line;
  if (!read_line(line, ">>> ")) return false;
  // `"""` opens a multi-line message, and so does `/set system """`; the
  // message ends on the line that ends with `"""`.
  std::string head;
  std::string body = line;
  if (starts_with(line, "/set system ") && trim(line.substr(12)).rfind(kQuotes, 0) == 0) {
    head = "/set system ";
    body = trim(line.substr(12));
  } else if (!starts_with(line, kQuotes)) {
    message = line;
    return true;
  }
  body.erase(0, kQuotes.size());
  std::string text;
  for (;;) {
    const std::string t = trim(body);
    if (t.size() >= kQuotes.size() && t.compare(t.size() - kQuotes.size(), kQuotes.size(), kQuotes) == 0) {
      const size_t end = body.rfind(kQuotes);
      text += body.substr(0, end);
      break;
    }
    text += body + "\n";
    if (!read_line(body, "... ")) break;  // end of input closes the message
  }
  message = head + text;
  return true;
}

void Repl::run() {
  std::string message;
  while (read_message(message)) {
    const std::string t = trim(message);
    if (t.empty()) continue;
    if (t[0] == '/' && !starts_with(message, "/set system ")) {
      if (!command(t)) return;
    } else if (starts_with(message, "/set system ")) {
      set_command(message.substr(5));
    } else {
      answer(message);
    }
  }
  // End of input (Ctrl-D): the newline keeps the shell's prompt off the ">>> " line.
  out_ << "\n" << std::flush;
}

bool Repl::command(const std::string& line) {
  std::string rest;
  const std::string cmd = first_word(line, rest);
  if (cmd == "/bye" || cmd == "/exit") return false;
  if (cmd == "/set") set_command(rest);
  else if (cmd == "/show") show_command(rest);
  else if (cmd == "/clear") {
    session_.clear();
    out_ << "Cleared session context\n";
  } else if (cmd == "/?" || cmd == "/help") help(rest);
  else out_ << "Unknown command '" << cmd << "'. Type /? for help\n";
  return true;
}

void Repl::set_command(const std::string& args) {
  std::string rest;
  const std::string what = first_word(args, rest);
  if (what == "parameter") {
    std::string value;
    const std::string name = first_word(rest, value);
    if (name.empty()) return help("parameter");
    if (value.empty()) {
      out_ << "Usage: /set parameter <name> <value>\n";
      return;
    }
    try {
      if (name == "stop") {
        // Several stop strings separated by spaces replace the list, as in Ollama.
        std::vector<std::string> stops;
        std::istringstream words(value);
        for (std::string w; words >> w;) stops.push_back(w);
        session_.set_stops(std::move(stops));
      } else {
        session_.set_parameter(name, value);
      }
      out_ << "Set parameter '" << name << "' to '" << value << "'\n";
    } catch (const kiln::Error& e) {
      out_ << "Couldn't set parameter: " << e.what() << "\n";
    }
  } else if (what == "system") {
    // The text keeps its inner spacing; only the command word is cut.
    const size_t at = args.find("system");
    session_.set_system(trim(args.substr(at + 6)));
    out_ << "Set system message.\n";
  } else if (what == "verbose") {
    options_.verbose = true;
    out_ << "Set 'verbose' mode.\n";
  } else if (what == "quiet") {
    options_.verbose = false;
    out_ << "Set 'quiet' mode.\n";
  } else if (what == "format") {
    try {
      session_.set_format(rest);
      out_ << "Set format to '" << rest << "' mode.\n";
    } catch (const kiln::Error& e) {
      out_ << "Couldn't set format: " << e.what() << "\n";
    }
  } else if (what == "noformat") {
    session_.set_format("");
    out_ << "Disabled format.\n";
  } else if (what == "think" || what == "nothink") {
    session_.set_think(what == "think");
    out_ << "Set '" << what << "' mode.\n";
  } else if (what.empty()) {
    help("set");
  } else {
    out_ << "Unknown command '/set " << what << "'. Type /? for help\n";
  }
}

void Repl::show_command(const std::string& args) {
  const std::string what = trim(args);
  if (what == "info") {
    if (!view_.weights.empty()) {
      const store::ModelInfo info = store::summarize(gguf::File::open(view_.weights));
      std::vector<std::vector<std::string>> rows = {{"architecture", info.architecture},
                                                    {"parameters", store::human_number(info.parameter_count)}};
      if (info.context_length) rows.push_back({"context length", std::to_string(*info.context_length)});
      if (info.embedding_length) rows.push_back({"embedding length", std::to_string(*info.embedding_length)});
      rows.push_back({"quantization", info.file_type});
      out_ << "  Model\n" << store::columns(rows, "    ") << "\n";
    }
    out_ << "  Session\n" << store::columns(session_.session_rows(), "    ") << "\n";
  } else if (what == "parameters") {
    if (!view_.parameters.empty()) {
      out_ << "Model defined parameters:\n";
      print_params(out_, view_.parameters);
    }
    if (!session_.user_parameters().empty()) {
      out_ << (view_.parameters.empty() ? "" : "\n") << "User defined parameters:\n";
      print_params(out_, session_.user_parameters());
    }
    if (view_.parameters.empty() && session_.user_parameters().empty())
      out_ << "No parameters were specified for this model.\n";
  } else if (what == "system") {
    if (session_.system().empty()) out_ << "No system message was specified for this model.\n";
    else out_ << session_.system() << "\n";
  } else if (what == "template") {
    const std::string source = session_.template_source();
    if (source.empty()) out_ << "No prompt template was specified for this model.\n";
    else out_ << source << "\n";
  } else if (what == "license") {
    if (view_.licenses.empty()) out_ << "No license was specified for this model.\n";
    for (const auto& l : view_.licenses) out_ << l << "\n";
  } else if (what == "modelfile") {
    out_ << store::render_modelfile(view_) << "\n";
  } else {
    help("show");
  }
}

void Repl::help(const std::string& topic) {
  if (topic == "set") {
    out_ << "Available Commands:\n"
            "  /set parameter ...     Set a parameter\n"
            "  /set system <string>   Set system message\n"
            "  /set format json       Enable JSON mode (or a JSON schema)\n"
            "  /set noformat          Disable formatting\n"
            "  /set think             Enable thinking (models whose template has it)\n"
            "  /set nothink           Disable thinking\n"
            "  /set verbose           Show LLM stats\n"
            "  /set quiet             Disable LLM stats\n\n";
  } else if (topic == "show") {
    out_ << "Available Commands:\n"
            "  /show info         Show details for this model\n"
            "  /show license      Show model license\n"
            "  /show modelfile    Show Modelfile for this model\n"
            "  /show parameters   Show parameters for this model\n"
            "  /show system       Show system message\n"
            "  /show template     Show prompt template\n\n";
  } else if (topic == "parameter") {
    out_ << "Available Parameters:\n"
            "  /set parameter seed <int>             Random number seed\n"
            "  /set parameter num_predict <int>      Max number of tokens to predict\n"
            "  /set parameter top_k <int>            Pick from top k num of tokens\n"
            "  /set parameter top_p <float>          Pick token based on sum of probabilities\n"
            "  /set parameter min_p <float>          Pick token based on top token probability * min_p\n"
            "  /set parameter num_ctx <int>          Set the context size\n"
            "  /set parameter temperature <float>    Set creativity level\n"
            "  /set parameter repeat_penalty <float> How strongly to penalize repetitions\n"
            "  /set parameter repeat_last_n <int>    Set how far back to look for repetitions\n"
            "  /set parameter num_gpu <int>          The number of layers to send to the GPU\n"
            "  /set parameter stop <string> <string> ...   Set the stop parameters\n\n";
  } else if (topic == "shortcuts") {
    out_ << "Available keyboard shortcuts:\n"
            "  Ctrl + c            Stop the model from responding\n"
            "  Ctrl + d            Exit kiln (/bye)\n\n"
            "Line editing is the terminal's own (no history).\n\n";
  } else {
    out_ << "Available Commands:\n"
            "  /set            Set session variables\n"
            "  /show           Show model information\n"
            "  /clear          Clear session context\n"
            "  /bye            Exit\n"
            "  /?, /help       Help for a command\n"
            "  /? shortcuts    Help for keyboard shortcuts\n\n"
            "Use \"\"\" to begin a multi-line message.\n\n";
  }
}

void Repl::answer(const std::string& message) {
  AnswerPrinter printer(out_, options_.hide_thinking);
  interrupt_flag().store(false);
  try {
    const engine::Reply reply = session_.chat(
        message, [&](std::string_view text, bool thinking) { printer.write(text, thinking); }, &interrupt_flag());
    printer.finish();
    interrupt_flag().store(false);
    out_ << "\n";
    if (options_.verbose) print_timings(err_, reply.timings);
  } catch (const kiln::Error& e) {
    printer.finish();
    out_ << "Error: " << e.what() << "\n";
  }
}

}  // namespace kiln::cli
