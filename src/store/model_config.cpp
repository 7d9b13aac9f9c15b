#include "store/model_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "store/humanize.h"

namespace kiln::store {
namespace {

constexpr const char* go_arch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#else
  return "unknown";
#endif
}

std::string string_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string ModelConfig::to_json() const {
  nlohmann::ordered_json j;  // Go writes struct fields in declaration order
  j["model_format"] = model_format;
  j["model_family"] = model_family;
  j["model_families"] = model_families;
  j["model_type"] = model_type;
  j["file_type"] = file_type;
  j["architecture"] = architecture;
  j["os"] = os;
  nlohmann::ordered_json ids = nlohmann::ordered_json::array();
  for (const auto& d : diff_ids) ids.push_back(d.str());
  j["rootfs"] = {{"type", "layers"}, {"diff_ids", ids}};
  return j.dump();
}

ModelConfig ModelConfig::parse(std::string_view text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e999
    throw Error(std::string("model config is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw Error("model config is not a JSON object");
  ModelConfig c;
  c.model_format = string_field(j, "model_format");
  c.model_family = string_field(j, "model_family");
  if (auto it = j.find("model_families"); it != j.end() && it->is_array())
    for (const auto& f : *it)
      if (f.is_string()) c.model_families.push_back(f.get<std::string>());
  c.model_type = string_field(j, "model_type");
  c.file_type = string_field(j, "file_type");
  c.architecture = string_field(j, "architecture");
  c.os = string_field(j, "os");
  if (auto rootfs = j.find("rootfs"); rootfs != j.end() && rootfs->is_object())
    if (auto ids = rootfs->find("diff_ids"); ids != rootfs->end() && ids->is_array())
      for (const auto& d : *ids)
        if (d.is_string() && Digest::is_valid(d.get<std::string>())) c.diff_ids.push_back(Digest::parse(d.get<std::string>()));
  return c;
}

ModelConfig make_config(const ModelInfo& info, std::vector<Digest> layer_digests) {
  ModelConfig c;
  c.model_family = info.architecture;
  c.model_families = {info.architecture};
  c.model_type = human_number(info.parameter_count);
  c.file_type = info.file_type;
  c.architecture = go_arch();
  c.os = "linux";
  c.diff_ids = std::move(layer_digests);
  return c;
}

}  // namespace kiln::store
