#pragma once
// Content-addressed blobs: <root>/blobs/sha256-<hex>. A blob is written to a
// temporary file in the same directory, checked against its digest and then
// renamed into place, so a reader never sees a half-written blob and a crash
// leaves only a temporary file (named ".tmp-*", never mistaken for a blob).
// Writing a blob that already exists writes nothing (deduplication).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/digest.h"

namespace kiln::store {

// phase ("copying", "quantizing"), bytes or values done, total.
using ByteProgress = std::function<void(std::string_view phase, uint64_t done, uint64_t total)>;

struct StoredBlob {
  Digest digest;
  uint64_t size = 0;
  bool existed = false;  // true when an identical blob was already stored
};

class BlobStore {
 public:
  explicit BlobStore(std::filesystem::path models_root);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path path(const Digest& d) const { return dir_ / d.file_name(); }
  bool has(const Digest& d) const;
  std::optional<uint64_t> size(const Digest& d) const;

  StoredBlob put(std::span<const uint8_t> bytes);
  StoredBlob put(std::string_view text);
  // Imports a file: clones it with a reflink where the filesystem can and
  // hashes the clone, else reads, hashes and writes it in one pass; the copy
  // is dropped when the blob already exists. progress gets ("copying", done, total).
  StoredBlob import_file(const std::filesystem::path& src, const ByteProgress& progress = {});
  // Moves a file that was written inside dir() (see temp_path) into the store
  // under its digest; the file is removed if the blob already exists.
  StoredBlob adopt_file(const std::filesystem::path& temp);
  // A fresh temporary path inside dir(), for producers that write big blobs
  // themselves (quantization) and then adopt_file() them.
  std::filesystem::path temp_path() const;

  std::string read_text(const Digest& d, uint64_t max_bytes = 64 << 20) const;
  // Deletes a blob; missing blobs are ignored.
  void remove(const Digest& d);
  // Every well-named blob in the store (temporary and foreign files skipped).
  std::vector<Digest> list() const;

 private:
  void ensure_dir() const;
  std::filesystem::path dir_;
};

}  // namespace kiln::store
