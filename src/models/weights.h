#pragma once
// Binds GGUF tensors to backend weights by name, checking shapes, so that a
// file from another converter or a truncated model fails at load with a
// message naming the tensor instead of producing garbage.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "backend/backend.h"

namespace kiln::gguf {
class File;
}

namespace kiln::models {

class WeightBinder {
 public:
  WeightBinder(const gguf::File& file, backend::Backend& backend) : file_(file), backend_(backend) {}

  // The tensor `name` with GGUF shape `shape` (ne0 first). Throws kiln::Error
  // naming the tensor when it is missing or has another shape.
  backend::Tensor get(std::string_view name, std::initializer_list<int64_t> shape);
  // Same, or nullopt when the file has no such tensor (optional weights:
  // biases, tied output).
  std::optional<backend::Tensor> find(std::string_view name, std::initializer_list<int64_t> shape);
  // "blk.<layer>.<suffix>"
  backend::Tensor layer(int layer, std::string_view suffix, std::initializer_list<int64_t> shape) {
    return get(layer_name(layer, suffix), shape);
  }
  std::optional<backend::Tensor> find_layer(int layer, std::string_view suffix, std::initializer_list<int64_t> shape) {
    return find(layer_name(layer, suffix), shape);
  }
  static std::string layer_name(int layer, std::string_view suffix);

 private:
  const gguf::File& file_;
  backend::Backend& backend_;
};

}  // namespace kiln::models
