#include "store/pull.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "store/humanize.h"

namespace kiln::store {
namespace fs = std::filesystem;
namespace {

void report(const PullCallback& progress, PullUpdate update) {
  if (progress) progress(update);
}

// Refuses to start a pull whose missing bytes cannot fit, instead of filling
// the disk and failing an hour in.
void check_disk_space(const BlobStore& blobs, const Manifest& manifest, const ModelName& name) {
  uint64_t needed = 0;
  std::vector<Layer> all = manifest.layers;
  all.push_back(manifest.config);
  for (const Layer& l : all) {
    if (auto have = blobs.size(l.digest); have && *have == l.size) continue;
    std::error_code ec;
    const uint64_t partial = fs::file_size(partial_blob_path(blobs, l.digest), ec);
    needed += l.size - (ec || partial > l.size ? 0 : partial);
  }
  if (needed == 0) return;
  std::error_code ec;
  fs::create_directories(blobs.dir(), ec);
  if (ec) throw Error("cannot create " + blobs.dir().string() + ": " + ec.message());
  const uint64_t free = free_disk_bytes(blobs.dir());
  if (needed > free)
    throw Error("not enough disk space to pull " + name.display() + ": it needs " + human_bytes(needed) + " more, " +
                human_bytes(free) + " free in " + blobs.dir().string());
}

// The blobs of `old` that no stored manifest references any more.
std::vector<Digest> unused_blobs(const ModelStore& store, const Manifest& old) {
  std::set<Digest> used;
  for (const StoredModel& m : store.list())
    for (const Digest& d : m.manifest.blobs()) used.insert(d);
  std::vector<Digest> out;
  for (const Digest& d : old.blobs())
    if (!used.count(d) && std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  return out;
}

}  // namespace

StoredModel pull_from_registry(ModelStore& store, const ModelName& name, const PullOptions& options,
                               const PullCallback& progress) {
  Registry registry(name, options.registry);
  report(progress, {"pulling manifest", "", 0, 0});
  const Manifest manifest = registry.fetch_manifest(options.download.stop);
  check_disk_space(store.blobs(), manifest, name);

  // Ollama's order: the layers, then the config.
  std::vector<Layer> blobs = manifest.layers;
  blobs.push_back(manifest.config);
  for (const Layer& layer : blobs) {
    const std::string status = "pulling " + layer.digest.short_id();
    const std::string digest = layer.digest.str();
    report(progress, {status, digest, layer.size, 0});
    download_blob(store.blobs(), registry, layer, options.download, [&](uint64_t done, uint64_t) {
      report(progress, {status, digest, layer.size, done});
    });
  }

  // Each blob was hashed as it arrived and renamed into place only when it
  // matched; what is left to verify is that they are all still there (a
  // concurrent `kiln rm` may have pruned one).
  report(progress, {"verifying sha256 digest", "", 0, 0});
  for (const Layer& layer : blobs) {
    auto have = store.blobs().size(layer.digest);
    if (!have || *have != layer.size)
      throw Error("blob " + layer.digest.str() + " disappeared from the store during the pull; pull again");
  }

  report(progress, {"writing manifest", "", 0, 0});
  const ModelName stored = store.canonical(name);
  std::optional<Manifest> previous;
  if (store.find(stored)) previous = store.get(stored).manifest;
  store.put(stored, manifest);
  if (previous && options.prune) {
    if (const auto unused = unused_blobs(store, *previous); !unused.empty()) {
      report(progress, {"removing unused layers", "", 0, 0});
      for (const Digest& d : unused) store.blobs().remove(d);
    }
  }
  report(progress, {"success", "", 0, 0});
  return store.get(stored);
}

StoredModel pull_model(ModelStore& store, std::string_view what, const PullOptions& options,
                       const PullCallback& progress) {
  if (is_gguf_url(what)) return pull_from_url(store, Url::parse(what), options, progress);
  if (what.substr(0, 7) == "http://" || what.substr(0, 8) == "https://") {
    // "https://host/ns/model:tag" names a model (ModelName drops the
    // scheme, as Ollama's does); anything else with a scheme must be a .gguf file.
    if (!ModelName::is_valid(what))
      throw Error("cannot pull " + std::string(what.substr(0, 200)) +
                  ": a URL must name a .gguf file (e.g. https://huggingface.co/<user>/<repo>/resolve/main/<file>.gguf)");
  }
  PullOptions opts = options;
  if (what.substr(0, 7) == "http://") opts.registry.insecure = true;  // the scheme says how to reach the host
  return pull_from_registry(store, ModelName::parse(what), opts, progress);
}

}  // namespace kiln::store
