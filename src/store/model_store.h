#pragma once
// The model store: manifests/<host>/<namespace>/<model>/<tag> naming blobs in
// blobs/, rooted at $KILN_MODELS (default ~/.kiln/models), laid out as Ollama
// lays out ~/.ollama/models. Names match without regard to case, as in Ollama:
// "Qwen:Latest" finds the manifest stored as qwen/latest.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "store/blob_store.h"
#include "store/manifest.h"
#include "store/name.h"

namespace kiln::store {

struct StoredModel {
  ModelName name;      // as stored on disk
  Digest digest;       // sha256 of the manifest file (the model's ID)
  Manifest manifest;
  uint64_t size = 0;   // config + layers
  std::filesystem::file_time_type modified;
};

class ModelStore {
 public:
  explicit ModelStore(std::filesystem::path root);
  // $KILN_MODELS, else $HOME/.kiln/models.
  static std::filesystem::path default_root();

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path manifests_dir() const { return root_ / "manifests"; }
  BlobStore& blobs() { return blobs_; }
  const BlobStore& blobs() const { return blobs_; }

  // The stored name that matches `name` ignoring case, if any.
  std::optional<ModelName> find(const ModelName& name) const;
  // `name` with each part replaced by the casing already on disk (Ollama's
  // getExistingName), so re-creating "Foo" over "foo" updates one model.
  ModelName canonical(const ModelName& name) const;

  // Throws kiln::Error "model 'x' not found" when absent.
  StoredModel get(const ModelName& name) const;
  // Writes the manifest atomically; returns the manifest digest.
  Digest put(const ModelName& name, const Manifest& manifest);
  // Every model, most recently modified first (as `ollama list`).
  std::vector<StoredModel> list() const;
  // Deletes the manifest, then every blob of it that no other manifest uses.
  // Returns the removed blobs.
  std::vector<Digest> remove(const ModelName& name);
  // Copies the manifest of src to dst (blobs are shared).
  void copy(const ModelName& src, const ModelName& dst);

 private:
  StoredModel load(const ModelName& stored_name) const;
  std::filesystem::path root_;
  BlobStore blobs_;
};

}  // namespace kiln::store
