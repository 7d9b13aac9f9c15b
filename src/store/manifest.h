#pragma once
// Ollama's manifest format (a Docker image manifest v2): a config blob plus an
// ordered list of layers, each a blob with a media type. Serialised exactly as
// Ollama's Go code does (field order, compact JSON), so manifests and blobs can
// be moved between an Ollama store and a kiln store.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/digest.h"

namespace kiln::store {

namespace media {
inline constexpr std::string_view kManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kModel = "application/vnd.ollama.image.model";
inline constexpr std::string_view kTemplate = "application/vnd.ollama.image.template";
inline constexpr std::string_view kSystem = "application/vnd.ollama.image.system";
inline constexpr std::string_view kParams = "application/vnd.ollama.image.params";
inline constexpr std::string_view kLicense = "application/vnd.ollama.image.license";
inline constexpr std::string_view kMessages = "application/vnd.ollama.image.messages";
inline constexpr std::string_view kAdapter = "application/vnd.ollama.image.adapter";
inline constexpr std::string_view kProjector = "application/vnd.ollama.image.projector";
}  // namespace media

struct Layer {
  std::string media_type;
  Digest digest;
  uint64_t size = 0;
  std::string from;  // Ollama's optional provenance field; kept when present
};

struct Manifest {
  int schema_version = 2;
  std::string media_type = std::string(media::kManifest);
  Layer config;
  std::vector<Layer> layers;

  // Compact JSON in Ollama's field order.
  std::string to_json() const;
  // Validates structure, media types and every digest; `origin` names the file
  // in error messages.
  static Manifest parse(std::string_view json, std::string_view origin);

  const Layer* find(std::string_view media_type) const;  // first match or nullptr
  std::vector<const Layer*> find_all(std::string_view media_type) const;
  // Removes every layer of this media type.
  void remove_all(std::string_view media_type);
  // Sum of the config and layer sizes (what `kiln list` shows).
  uint64_t total_size() const;
  // Every blob this manifest needs: the config and each layer.
  std::vector<Digest> blobs() const;
};

}  // namespace kiln::store
