#include "store/manifest.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace kiln::store {
namespace {

using ojson = nlohmann::ordered_json;

ojson layer_json(const Layer& l) {
  ojson j;
  j["mediaType"] = l.media_type;
  j["digest"] = l.digest.str();
  j["size"] = l.size;
  if (!l.from.empty()) j["from"] = l.from;
  return j;
}

Layer parse_layer(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + " is not an object");
  Layer l;
  auto media = j.find("mediaType");
  if (media == j.end() || !media->is_string() || media->get<std::string>().empty())
    throw Error(where + " has no mediaType");
  l.media_type = media->get<std::string>();
  auto digest = j.find("digest");
  if (digest == j.end() || !digest->is_string()) throw Error(where + " has no digest");
  l.digest = Digest::parse(digest->get<std::string>());
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer() || size->get<int64_t>() < 0)
    throw Error(where + " has no valid size");
  l.size = size->get<uint64_t>();
  if (auto from = j.find("from"); from != j.end() && from->is_string()) l.from = from->get<std::string>();
  return l;
}

}  // namespace

std::string Manifest::to_json() const {
  ojson j;
  j["schemaVersion"] = schema_version;
  j["mediaType"] = media_type;
  j["config"] = layer_json(config);
  j["layers"] = ojson::array();
  for (const auto& l : layers) j["layers"].push_back(layer_json(l));
  return j.dump();
}

Manifest Manifest::parse(std::string_view text, std::string_view origin) {
  const std::string where = "manifest " + std::string(origin);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e999
    throw Error(where + " is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(where + " is not a JSON object");
  Manifest m;
  try {
    auto version = j.find("schemaVersion");
    if (version == j.end() || !version->is_number_integer() || version->get<int>() != 2)
      throw Error(where + ": schemaVersion must be 2");
    if (auto media = j.find("mediaType"); media != j.end() && media->is_string())
      m.media_type = media->get<std::string>();
    auto config = j.find("config");
    if (config == j.end()) throw Error(where + " has no config");
    m.config = parse_layer(*config, where + " config");
    auto layers = j.find("layers");
    if (layers == j.end() || !layers->is_array()) throw Error(where + " has no layers array");
    for (size_t i = 0; i < layers->size(); ++i)
      m.layers.push_back(parse_layer((*layers)[i], where + " layer " + std::to_string(i)));
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": " + e.what());
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.rfind(where, 0) == 0) throw;
    throw Error(where + ": " + msg);  // a bad digest names the manifest too
  }
  return m;
}

const Layer* Manifest::find(std::string_view media_type) const {
  for (const auto& l : layers)
    if (l.media_type == media_type) return &l;
  return nullptr;
}

std::vector<const Layer*> Manifest::find_all(std::string_view media_type) const {
  std::vector<const Layer*> out;
  for (const auto& l : layers)
    if (l.media_type == media_type) out.push_back(&l);
  return out;
}

void Manifest::remove_all(std::string_view media_type) {
  std::erase_if(layers, [&](const Layer& l) { return l.media_type == media_type; });
}

uint64_t Manifest::total_size() const {
  uint64_t total = config.size;
  for (const auto& l : layers) total += l.size;
  return total;
}

std::vector<Digest> Manifest::blobs() const {
  std::vector<Digest> out{config.digest};
  for (const auto& l : layers) out.push_back(l.digest);
  return out;
}

}  // namespace kiln::store
