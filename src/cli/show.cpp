// `kiln show NAME|FILE.gguf [--modelfile|--parameters|--template|--system|--license] [-v]`:
// a model's summary in Ollama's layout (Model, Capabilities, Parameters,
// System, License) plus kiln's quant mix (tensor count and bytes by type);
// -v adds every metadata key (long arrays abbreviated) and the tensor list.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "store/humanize.h"
#include "store/model_info.h"
#include "store/model_view.h"
#include "store/parameters.h"

namespace kiln::cli {
namespace {

using Rows = std::vector<std::vector<std::string>>;

struct ShowArgs {
  std::string target;
  bool modelfile = false, parameters = false, template_ = false, system = false, license = false;
  bool verbose = false;
};

void section(const std::string& title, const Rows& rows) {
  if (rows.empty()) return;
  std::printf("  %s\n%s\n", title.c_str(), store::columns(rows, "    ").c_str());
}

// Ollama shows the first n non-empty lines of a long text, then "...".
Rows head(const std::string& text, int n) {
  Rows rows;
  std::istringstream in(text);
  int count = 0;
  for (std::string line; std::getline(in, line);) {
    const size_t b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
    if (b == std::string::npos) continue;
    if (++count <= n) rows.push_back({line.substr(b, e - b + 1)});
  }
  if (count > n) rows.push_back({"..."});
  return rows;
}

// One metadata value on one line: strings escaped and cut, arrays abbreviated.
std::string metadata_text(const gguf::Value& v) {
  if (!v.is_string()) return v.to_display(4);
  std::string out;
  const std::string& s = v.as_string();
  for (size_t i = 0; i < s.size() && out.size() < 120; ++i) {
    if (s[i] == '\n') out += "\\n";
    else if (s[i] == '\t') out += "\\t";
    else if (static_cast<unsigned char>(s[i]) < 0x20) out += '?';
    else out += s[i];
  }
  if (out.size() >= 120 && s.size() > 120) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? " " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::string parameters_text(const nlohmann::json& params) {
  std::string out;
  for (const auto& [key, value] : store::param_lines(params)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%-30s ", key.c_str());
    out += buf + value + "\n";
  }
  return out;
}

void print_summary(const store::ModelView& view, const gguf::File& file, bool verbose) {
  const store::ModelInfo info = store::summarize(file);
  Rows model = {{"architecture", info.architecture}, {"parameters", store::human_number(info.parameter_count)}};
  if (info.context_length) model.push_back({"context length", std::to_string(*info.context_length)});
  if (info.embedding_length) model.push_back({"embedding length", std::to_string(*info.embedding_length)});
  model.push_back({"quantization", info.file_type});
  section("Model", model);

  Rows caps;
  for (const auto& c : store::capabilities(info, view.template_text)) caps.push_back({c});
  section("Capabilities", caps);

  Rows mix;
  for (const auto& u : info.quant_mix) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.1f%%", info.tensor_bytes ? 100.0 * u.bytes / info.tensor_bytes : 0.0);
    mix.push_back({std::string(type_name(u.type)), std::to_string(u.tensors) + " tensors",
                   store::human_bytes(u.bytes), pct});
  }
  section("Quant mix", mix);

  Rows params;
  for (const auto& [key, value] : store::param_lines(view.parameters)) params.push_back({key, value});
  section("Parameters", params);

  if (verbose) {
    std::vector<std::pair<std::string, const gguf::Value*>> kv;
    for (const auto& [key, value] : file.metadata()) kv.emplace_back(key, &value);
    std::sort(kv.begin(), kv.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    Rows meta;
    for (const auto& [key, value] : kv) meta.push_back({key, metadata_text(*value)});
    section("Metadata", meta);
    Rows tensors;
    for (const auto& t : file.tensors())
      tensors.push_back({t.name, std::string(type_name(t.type)), shape_text(t.shape)});
    section("Tensors", tensors);
  }
  section("System", head(view.system, 2));
  std::string licenses;
  for (const auto& l : view.licenses) licenses += (licenses.empty() ? "" : "\n") + l;
  section("License", head(licenses, 2));
}

void run_show(const ShowArgs& a) {
  namespace fs = std::filesystem;
  const int flags = a.modelfile + a.parameters + a.template_ + a.system + a.license;
  if (flags > 1)
    throw Error("only one of '--license', '--modelfile', '--parameters', '--system', or '--template' can be specified");

  // A stored model wins over a file of the same name in the current folder;
  // anything else that exists is read as a GGUF file.
  store::ModelView view;
  std::optional<gguf::File> file;
  store::ModelStore models(store::ModelStore::default_root());
  std::optional<store::ModelName> stored;
  if (store::ModelName::is_valid(a.target)) stored = models.find(store::ModelName::parse(a.target));
  std::error_code ec;
  if (stored) {
    view = store::view_stored_model(models, *stored);
  } else if (fs::is_regular_file(a.target, ec)) {
    file = gguf::File::open(a.target);
    view = store::view_gguf_file(fs::absolute(a.target), file->get_string("tokenizer.chat_template"));
  } else if (store::ModelName::is_valid(a.target)) {
    throw Error("model '" + store::ModelName::parse(a.target).display() + "' not found");
  } else {
    throw Error("no such file or model: " + a.target);
  }

  if (a.modelfile) std::fputs(store::render_modelfile(view).c_str(), stdout), std::fputs("\n", stdout);
  else if (a.parameters) std::printf("%s\n", parameters_text(view.parameters).c_str());
  else if (a.template_) std::fputs(view.template_text.c_str(), stdout);
  else if (a.system) std::fputs(view.system.c_str(), stdout);
  else if (a.license) {
    std::string licenses;
    for (const auto& l : view.licenses) licenses += (licenses.empty() ? "" : "\n") + l;
    std::printf("%s\n", licenses.c_str());
  } else {
    if (!file) file = gguf::File::open(view.weights);
    print_summary(view, *file, a.verbose);
  }
}

}  // namespace

void add_show(CLI::App& app) {
  auto args = std::make_shared<ShowArgs>();
  auto* cmd = app.add_subcommand("show", "Show information for a model (a stored model or a GGUF file)");
  cmd->add_option("model", args->target, "Model name or path to a .gguf file")->required();
  cmd->add_flag("--modelfile", args->modelfile, "Show the Modelfile of the model");
  cmd->add_flag("--parameters", args->parameters, "Show the parameters of the model");
  cmd->add_flag("--template", args->template_, "Show the template of the model");
  cmd->add_flag("--system", args->system, "Show the system message of the model");
  cmd->add_flag("--license", args->license, "Show the license of the model");
  cmd->add_flag("-v,--verbose", args->verbose, "Show all metadata and the tensor list");
  cmd->callback([args] { run_show(*args); });
}

}  // namespace kiln::cli
