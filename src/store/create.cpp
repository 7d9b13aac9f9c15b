#include "store/create.h"

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "gguf/gguf.h"
#include "store/model_config.h"
#include "store/model_info.h"
#include "store/quantize.h"
#include "template/chat_template.h"

namespace kiln::store {
namespace fs = std::filesystem;
namespace {

struct Builder {
  ModelStore& store;
  const CreateProgress& progress;
  std::vector<Layer> layers;

  void status(const std::string& line) const {
    if (progress.status) progress.status(line);
  }

  Layer announce(const StoredBlob& blob, std::string_view media_type) const {
    status(std::string(blob.existed ? "using existing layer " : "creating new layer ") + blob.digest.str());
    return Layer{std::string(media_type), blob.digest, blob.size, {}};
  }

  void replace_text_layer(std::string_view media_type, const std::string& text) {
    std::erase_if(layers, [&](const Layer& l) { return l.media_type == media_type; });
    layers.push_back(announce(store.blobs().put(text), media_type));
  }

  const Layer& model_layer() const {
    for (const auto& l : layers)
      if (l.media_type == media::kModel) return l;
    throw Error("the base model has no model layer");
  }
};

bool is_plain_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// Imports a GGUF file as the model layer after checking that it parses.
Layer import_gguf(Builder& b, const fs::path& path) {
  gguf::File::open(path);  // throws FormatError naming the problem; nothing is copied for a bad file
  const StoredBlob blob = b.store.blobs().import_file(path, b.progress.bytes);
  b.status("copying file " + blob.digest.str() + " 100%");
  return Layer{std::string(media::kModel), blob.digest, blob.size, {}};
}

// The chat template a GGUF-based model gets when the Modelfile has none: the
// file's own tokenizer.chat_template, else kiln's built-in template for the
// architecture, else none. "llama" gets no default: Llama 2, Llama 3 and
// Mistral files all say "llama" and their templates differ.
std::string default_template(const ModelInfo& info) {
  if (!info.chat_template.empty()) return info.chat_template;
  const std::string family = info.architecture == "qwen2" ? "qwen2.5" : info.architecture;
  return tmpl::builtin_chat_template(family).value_or(std::string());
}

// Quantizes `source` (a GGUF file, or the base model's weights blob) into a
// new blob and returns its layer; the unquantized weights are never copied
// into the store.
Layer quantize_to_layer(Builder& b, const fs::path& source, const std::string& target) {
  const gguf::File src = gguf::File::open(source);
  b.status("quantizing " + summarize(src).file_type + " model to " + canonical_quant_name(target));
  const fs::path temp = b.store.blobs().temp_path();
  quantize_gguf(src, target, temp, b.progress.bytes);
  return b.announce(b.store.blobs().adopt_file(temp), media::kModel);
}

}  // namespace

fs::path expand_from_path(const std::string& from, const fs::path& base_dir) {
  if (from == "~" || from.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (!home) throw Error("cannot expand " + from + ": HOME is not set");
    return fs::path(home) / from.substr(from.size() > 1 ? 2 : 1);
  }
  fs::path p(from);
  return p.is_absolute() ? p : base_dir / p;
}

StoredModel create_model(ModelStore& store, const CreateRequest& req, const CreateProgress& progress) {
  Builder b{store, progress, {}};
  const Modelfile& mf = req.modelfile;
  if (!req.quantize.empty()) check_quant_target(req.quantize);  // fail before any work

  b.status("gathering model components");
  const fs::path from_path = expand_from_path(mf.from, req.base_dir);
  bool from_file = false;
  nlohmann::json params = nlohmann::json::object();
  if (is_plain_file(from_path)) {
    from_file = true;
    b.layers.push_back(req.quantize.empty() ? import_gguf(b, from_path) : quantize_to_layer(b, from_path, req.quantize));
  } else {
    std::optional<ModelName> base_name;
    if (ModelName::is_valid(mf.from)) base_name = store.find(ModelName::parse(mf.from));
    std::error_code ec;
    if (!base_name && fs::exists(from_path, ec))
      throw Error("FROM " + mf.from + " (line " + std::to_string(mf.from_line) + "): " + from_path.string() +
                  " is not a regular file (FROM takes a GGUF file or a model name)");
    if (!base_name)
      throw Error("FROM " + mf.from + " (line " + std::to_string(mf.from_line) + "): no such file (" +
                  from_path.string() + ") and no model of that name in the store");
    const StoredModel base = store.get(*base_name);
    b.layers = base.manifest.layers;
    for (auto& l : b.layers) l.from.clear();
    if (const Layer* p = base.manifest.find(media::kParams)) {
      params = nlohmann::json::parse(store.blobs().read_text(p->digest), nullptr, false);
      if (params.is_discarded() || !params.is_object())
        throw Error("the params layer of " + base_name->display() + " is not a JSON object");
    }
    const Layer& weights = b.model_layer();  // a base without weights is an error, not an empty model
    if (!req.quantize.empty()) {
      const Layer quantized = quantize_to_layer(b, store.blobs().path(weights.digest), req.quantize);
      for (auto& l : b.layers)
        if (l.media_type == media::kModel) l = quantized;
    }
  }

  b.status("parsing GGUF");
  const gguf::File weights = gguf::File::open(store.blobs().path(b.model_layer().digest));
  const ModelInfo info = summarize(weights);
  if (from_file && req.quantize.empty()) {
    // The model layer is announced after its file was parsed, as Ollama does.
    b.status("using existing layer " + b.model_layer().digest.str());
  }

  if (mf.template_text) {
    b.replace_text_layer(media::kTemplate, *mf.template_text);
  } else if (from_file) {
    if (std::string t = default_template(info); !t.empty()) b.replace_text_layer(media::kTemplate, t);
  }
  if (mf.system) b.replace_text_layer(media::kSystem, *mf.system);
  for (const auto& license : mf.licenses)
    b.layers.push_back(b.announce(store.blobs().put(license), media::kLicense));

  // Modelfile parameters replace the base model's of the same name (Ollama's
  // setParameters: a new "stop" list replaces the old one, it is not merged).
  if (!mf.parameters.empty() || from_file) {
    nlohmann::json merged = mf.parameters;
    for (const auto& [k, v] : params.items())
      if (!merged.contains(k)) merged[k] = v;
    // Inherited values are kept as they are: a model pulled from Ollama may
    // carry parameters a newer Ollama knows and kiln does not.
    if (!merged.empty()) b.replace_text_layer(media::kParams, merged.dump());
  }
  if (!mf.messages.empty()) {
    nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
    for (const auto& m : mf.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    b.replace_text_layer(media::kMessages, msgs.dump());
  }

  std::vector<Digest> diff_ids;
  for (const auto& l : b.layers) diff_ids.push_back(l.digest);
  const StoredBlob config_blob = store.blobs().put(make_config(info, diff_ids).to_json());

  Manifest manifest;
  manifest.config = Layer{std::string(media::kConfig), config_blob.digest, config_blob.size, {}};
  manifest.layers = b.layers;
  b.status("writing manifest");
  const ModelName name = store.canonical(req.name);
  store.put(name, manifest);
  b.status("success");
  return store.get(name);
}

}  // namespace kiln::store
