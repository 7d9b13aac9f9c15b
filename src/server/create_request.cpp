#include "server/create_request.h"

#include <cmath>
#include <fstream>

#include "server/http_error.h"
#include "server/model_lookup.h"
#include "store/parameters.h"
#include "store/quantize.h"

namespace kiln::server {
namespace {

// A parameter value from JSON, typed as the params layer stores it. Strings
// are parsed with the Modelfile's rules, so {"num_ctx": "4096"} works too.
nlohmann::json parameter_value(const store::ParamSpec& spec, const nlohmann::json& v) {
  const std::string name(spec.name);
  try {
    if (v.is_string() && spec.type != store::ParamType::StringList)
      return store::parse_param_value(spec, v.get<std::string>());
  } catch (const Error& e) {
    throw bad_request(std::string("parameter '") + name + "': " + e.what());
  }
  switch (spec.type) {
    case store::ParamType::Int:
      if (v.is_number_integer()) return v;
      if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.2e18) return static_cast<int64_t>(d);
      }
      throw_type_error("parameters." + name, "an integer", v);
    case store::ParamType::Float:
      if (v.is_number()) return v.get<double>();
      throw_type_error("parameters." + name, "a number", v);
    case store::ParamType::Bool:
      if (v.is_boolean()) return v;
      throw_type_error("parameters." + name, "a boolean", v);
    case store::ParamType::StringList: {
      if (v.is_string()) return nlohmann::json::array({v});
      if (!v.is_array()) throw_type_error("parameters." + name, "an array of strings", v);
      for (const auto& item : v)
        if (!item.is_string()) throw_type_error("parameters." + name, "an array of strings", item);
      return v;
    }
  }
  throw bad_request("parameter '" + name + "' has an unsupported type");
}

nlohmann::json convert_parameters(const nlohmann::json& object) {
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [key, value] : object.items()) {
    if (value.is_null()) continue;
    const store::ParamSpec* spec = store::find_param(key);
    if (!spec) {
      if (store::is_deprecated_param(key)) continue;  // Ollama ignores these too
      throw bad_request("unknown parameter '" + key + "'");
    }
    store::set_param(params, *spec, parameter_value(*spec, value));
  }
  return params;
}

std::vector<store::ChatMessage> convert_messages(const nlohmann::json& array) {
  std::vector<store::ChatMessage> out;
  for (const auto& m : array) {
    if (!m.is_object()) throw_type_error("messages", "an array of objects", m);
    const JsonBody msg(m);
    auto role = msg.string("role"), content = msg.string("content");
    if (!role || role->empty()) throw bad_request("each message needs a role");
    out.push_back({*role, content.value_or("")});
  }
  return out;
}

bool is_gguf_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

// The blob path of the single GGUF file among `files`.
std::filesystem::path model_file(const nlohmann::json& files, const store::ModelStore& store) {
  if (files.empty()) throw bad_request("no files provided to convert");
  std::vector<std::filesystem::path> ggufs;
  for (const auto& [name, digest] : files.items()) {
    if (!is_valid_file_name(name)) throw bad_request("file path must be relative");
    if (!digest.is_string()) throw_type_error("files." + name, "a digest string", digest);
    const std::string text = digest.get<std::string>();
    if (!store::Digest::is_valid(text)) throw bad_request("invalid digest format for file " + name);
    const store::Digest d = store::Digest::parse(text);
    if (!store.blobs().has(d))
      throw bad_request("blob " + d.str() + " for file " + name + " was not uploaded (POST /api/blobs/" + d.str() + ")");
    const auto path = store.blobs().path(d);
    if (!is_gguf_file(path)) throw bad_request("supplied file was not in GGUF format");
    ggufs.push_back(path);
  }
  if (ggufs.size() > 1) throw bad_request("only one GGUF file per model is supported; got " + std::to_string(ggufs.size()));
  return ggufs.front();
}

}  // namespace

bool is_valid_file_name(std::string_view name) {
  if (name.empty()) return false;
  while (true) {
    const size_t slash = name.find('/');
    const std::string_view elem = name.substr(0, slash);
    if (elem.empty() || elem == "." || elem == "..") return false;
    if (elem.find('\\') != std::string_view::npos || elem.find('\0') != std::string_view::npos) return false;
    if (slash == std::string_view::npos) return true;
    name.remove_prefix(slash + 1);
  }
}

PreparedCreate prepare_create(const JsonBody& body, const store::ModelStore& store) {
  std::string model = body.string("model").value_or("");
  if (model.empty()) model = body.string("name").value_or("");  // the field's old name
  PreparedCreate out{store::CreateRequest{parse_model_name(model), {}, {}, {}}, true};
  out.stream = body.boolean("stream").value_or(true);

  store::Modelfile& mf = out.request.modelfile;
  const std::string from = body.string("from").value_or("");
  const nlohmann::json* files = body.object("files");
  if (const nlohmann::json* adapters = body.object("adapters"); adapters && !adapters->empty())
    throw bad_request("adapters are not supported by kiln");
  // A directory that does not exist: FROM is never read as a path relative
  // to anything, so a model name can only ever name a stored model.
  out.request.base_dir = store.blobs().temp_path();
  if (!from.empty()) {  // Ollama prefers `from` when both are given
    mf.from = find_model(store, from).full();
  } else if (files) {
    mf.from = model_file(*files, store).string();
  } else if (body.has("modelfile")) {
    throw bad_request("the 'modelfile' field is no longer accepted (as in Ollama 0.5.5 and later); send 'from' or 'files'");
  } else {
    throw bad_request("neither 'from' or 'files' was specified");
  }

  if (auto t = body.string("template")) mf.template_text = *t;
  if (auto s = body.string("system")) mf.system = *s;
  if (auto l = body.strings("license")) mf.licenses = *l;
  if (const auto* m = body.array("messages")) mf.messages = convert_messages(*m);
  if (const auto* p = body.object("parameters")) mf.parameters = convert_parameters(*p);
  if (auto q = body.string("quantize"); q && !q->empty()) {
    try {
      store::check_quant_target(*q);
    } catch (const Error& e) {
      throw bad_request(e.what());
    }
    out.request.quantize = *q;
  }
  return out;
}

}  // namespace kiln::server
