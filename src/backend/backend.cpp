// Tensor view helpers shared by every backend (pure index arithmetic: they
// never touch the memory a view points at, which may live on a device).
#include "backend/backend.h"

#include <string>

#include "core/error.h"

namespace kiln::backend {

Tensor Tensor::row_range(int64_t first, int64_t n) const {
  if (first < 0 || n < 0 || first + n > rows)
    throw kiln::Error("row range [" + std::to_string(first) + ", " + std::to_string(first + n) +
                      ") is outside a tensor of " + std::to_string(rows) + " rows");
  Tensor t = *this;
  t.data = static_cast<uint8_t*>(data) + size_t(first) * stride;
  t.rows = n;
  return t;
}

bool Tensor::contiguous() const { return rows <= 1 || stride == row_bytes(type, cols); }

Tensor Tensor::reshape(int64_t new_cols) const {
  if (!contiguous()) throw kiln::Error("reshape of a non-contiguous tensor");
  const int64_t total = rows * cols;
  if (new_cols <= 0 || total % new_cols != 0 || new_cols % traits(type).block_size != 0)
    throw kiln::Error("cannot reshape a " + std::to_string(rows) + "x" + std::to_string(cols) + " tensor to rows of " +
                      std::to_string(new_cols));
  Tensor t = *this;
  t.cols = new_cols;
  t.rows = total / new_cols;
  t.stride = row_bytes(type, new_cols);
  return t;
}

}  // namespace kiln::backend
