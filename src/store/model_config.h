#pragma once
// The config blob of a manifest, as Ollama writes it (server.ConfigV2):
// {"model_format":"gguf","model_family":"gemma3","model_families":["gemma3"],
//  "model_type":"268.10M","file_type":"Q4_K_M","architecture":"amd64",
//  "os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:..."]}}
// `architecture` and `os` are the machine's (Go's GOARCH/GOOS names), as the
// image spec requires; the model's architecture is model_family.
#include <string>
#include <string_view>
#include <vector>

#include "store/digest.h"
#include "store/model_info.h"

namespace kiln::store {

struct ModelConfig {
  std::string model_format = "gguf";
  std::string model_family;
  std::vector<std::string> model_families;
  std::string model_type;  // parameter count, human-readable ("268.10M")
  std::string file_type;   // "Q4_K_M"
  std::string architecture;
  std::string os;
  std::vector<Digest> diff_ids;

  std::string to_json() const;
  // Lenient: missing fields stay empty (configs written by other tools vary).
  static ModelConfig parse(std::string_view json);
};

ModelConfig make_config(const ModelInfo& info, std::vector<Digest> layer_digests);

}  // namespace kiln::store
