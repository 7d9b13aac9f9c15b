#include "models/weights.h"

#include "core/error.h"
#include "gguf/gguf.h"

namespace kiln::models {

namespace {

std::string shape_text(const int64_t* dims, size_t n) {
  std::string s = "[";
  for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

std::string WeightBinder::layer_name(int layer, std::string_view suffix) {
  return "blk." + std::to_string(layer) + "." + std::string(suffix);
}

std::optional<backend::Tensor> WeightBinder::find(std::string_view name, std::initializer_list<int64_t> shape) {
  const gguf::TensorInfo* info = file_.tensor(name);
  if (!info) return std::nullopt;
  // Trailing dimensions of 1 are equivalent (a 1-D norm may be stored as [n, 1]).
  std::vector<int64_t> have = info->shape;
  while (have.size() > shape.size() && have.back() == 1) have.pop_back();
  if (have.size() != shape.size() || !std::equal(have.begin(), have.end(), shape.begin()))
    throw kiln::Error(file_.name() + ": tensor " + std::string(name) + " has shape " +
                      shape_text(info->shape.data(), info->shape.size()) + ", expected " +
                      shape_text(shape.begin(), shape.size()));
  return backend_.bind_weight(*info);
}

backend::Tensor WeightBinder::get(std::string_view name, std::initializer_list<int64_t> shape) {
  std::optional<backend::Tensor> t = find(name, shape);
  if (!t) throw kiln::Error(file_.name() + ": missing tensor " + std::string(name));
  return *t;
}

}  // namespace kiln::models
