#include "store/model_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>

#include "core/error.h"

namespace kiln::store {
namespace fs = std::filesystem;
namespace {

// The entry of `dir` equal to `part` ignoring case, preferring an exact match.
std::optional<std::string> match_entry(const fs::path& dir, const std::string& part, bool want_dir) {
  std::error_code ec;
  if (fs::exists(dir / part, ec)) {
    const bool is_dir = fs::is_directory(dir / part, ec);
    if (is_dir == want_dir) return part;
  }
  std::optional<std::string> found;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string entry = it->path().filename().string();
    if (!iequals(entry, part)) continue;
    if (it->is_directory(ec) != want_dir) continue;
    if (!found || entry < *found) found = entry;  // deterministic if several differ only in case
  }
  return found;
}

std::string read_file(const fs::path& p, uint64_t max_bytes) {
  std::error_code ec;
  const uint64_t size = fs::file_size(p, ec);
  if (ec) throw Error("cannot read " + p.string() + ": " + ec.message());
  if (size > max_bytes) throw Error(p.string() + " is too large for a manifest (" + std::to_string(size) + " bytes)");
  std::ifstream in(p, std::ios::binary);
  std::string text(static_cast<size_t>(size), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) throw Error("cannot read " + p.string());
  return text;
}

void write_file_atomic(const fs::path& p, std::string_view bytes) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  if (ec) throw Error("cannot create " + p.parent_path().string() + ": " + ec.message());
  const fs::path tmp = p.parent_path() / (".tmp-" + p.filename().string() + "-" + std::to_string(::getpid()));
  {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error("cannot create " + tmp.string());
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (w <= 0) {
        ::close(fd);
        fs::remove(tmp, ec);
        throw Error("cannot write " + tmp.string());
      }
      done += static_cast<size_t>(w);
    }
    const bool ok = ::fsync(fd) == 0;
    if (::close(fd) != 0 || !ok) {
      fs::remove(tmp, ec);
      throw Error("cannot write " + tmp.string());
    }
  }
  fs::rename(tmp, p, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw Error("cannot write " + p.string() + ": " + ec.message());
  }
}

constexpr uint64_t kMaxManifestBytes = 4 << 20;

}  // namespace

ModelStore::ModelStore(fs::path root) : root_(std::move(root)), blobs_(root_) {}

fs::path ModelStore::default_root() {
  if (const char* env = std::getenv("KILN_MODELS"); env && *env) return fs::path(env);
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw Error("cannot locate the model store: neither KILN_MODELS nor HOME is set");
  return fs::path(home) / ".kiln" / "models";
}

std::optional<ModelName> ModelStore::find(const ModelName& name) const {
  fs::path dir = manifests_dir();
  const std::string parts[4] = {name.host(), name.ns(), name.model(), name.tag()};
  std::string found[4];
  for (int i = 0; i < 4; ++i) {
    auto entry = match_entry(dir, parts[i], /*want_dir=*/i < 3);
    if (!entry) return std::nullopt;
    found[i] = *entry;
    dir /= *entry;
  }
  try {
    return ModelName::from_parts(found[0], found[1], found[2], found[3]);
  } catch (const Error&) {
    return std::nullopt;  // a foreign file whose name kiln would never create
  }
}

ModelName ModelStore::canonical(const ModelName& name) const {
  if (auto existing = find(name)) return *existing;
  // Reuse the casing of the deepest existing directory prefix.
  fs::path dir = manifests_dir();
  std::string parts[4] = {name.host(), name.ns(), name.model(), name.tag()};
  for (int i = 0; i < 3; ++i) {
    auto entry = match_entry(dir, parts[i], true);
    if (!entry) break;
    parts[i] = *entry;
    dir /= *entry;
  }
  return ModelName::from_parts(parts[0], parts[1], parts[2], parts[3]);
}

StoredModel ModelStore::load(const ModelName& stored) const {
  const fs::path p = manifests_dir() / stored.manifest_path();
  const std::string text = read_file(p, kMaxManifestBytes);
  StoredModel m{stored, sha256_of(text), Manifest::parse(text, stored.display()), 0, {}};
  m.size = m.manifest.total_size();
  std::error_code ec;
  m.modified = fs::last_write_time(p, ec);
  return m;
}

StoredModel ModelStore::get(const ModelName& name) const {
  auto stored = find(name);
  if (!stored) throw Error("model '" + name.display() + "' not found");
  return load(*stored);
}

Digest ModelStore::put(const ModelName& name, const Manifest& manifest) {
  for (const Digest& d : manifest.blobs())
    if (!blobs_.has(d)) throw Error("cannot write manifest for " + name.display() + ": blob " + d.str() + " is missing");
  const std::string text = manifest.to_json();
  write_file_atomic(manifests_dir() / canonical(name).manifest_path(), text);
  return sha256_of(text);
}

std::vector<StoredModel> ModelStore::list() const {
  std::vector<StoredModel> out;
  std::error_code ec;
  const fs::path top = manifests_dir();
  // Exactly four levels; anything else in the tree is not a manifest.
  auto subdirs = [](const fs::path& dir) {
    std::vector<fs::directory_entry> v;
    std::error_code e;
    for (fs::directory_iterator it(dir, e), end; !e && it != end; it.increment(e)) v.push_back(*it);
    return v;
  };
  for (const auto& host : subdirs(top)) {
    if (!host.is_directory(ec)) continue;
    for (const auto& ns : subdirs(host.path())) {
      if (!ns.is_directory(ec)) continue;
      for (const auto& model : subdirs(ns.path())) {
        if (!model.is_directory(ec)) continue;
        for (const auto& tag : subdirs(model.path())) {
          if (!tag.is_regular_file(ec)) continue;
          try {
            auto name = ModelName::from_parts(host.path().filename(), ns.path().filename(),
                                              model.path().filename(), tag.path().filename());
            out.push_back(load(name));
          } catch (const Error&) {
            // Temporary files and foreign or corrupt manifests are not models;
            // `kiln list` must still show the good ones.
          }
        }
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const StoredModel& a, const StoredModel& b) {
    if (a.modified != b.modified) return a.modified > b.modified;
    return a.name.full() < b.name.full();
  });
  return out;
}

std::vector<Digest> ModelStore::remove(const ModelName& name) {
  const StoredModel victim = get(name);
  const fs::path p = manifests_dir() / victim.name.manifest_path();
  std::error_code ec;
  if (!fs::remove(p, ec) || ec) throw Error("cannot remove " + p.string() + ": " + ec.message());
  // Drop now-empty directories up to manifests/ (Ollama prunes them too).
  for (fs::path dir = p.parent_path(); dir != manifests_dir() && fs::is_empty(dir, ec) && !ec; dir = dir.parent_path())
    fs::remove(dir, ec);

  std::set<Digest> still_used;
  for (const auto& other : list())
    for (const Digest& d : other.manifest.blobs()) still_used.insert(d);
  std::vector<Digest> removed;
  for (const Digest& d : victim.manifest.blobs()) {
    if (still_used.count(d) || std::find(removed.begin(), removed.end(), d) != removed.end()) continue;
    if (blobs_.has(d)) {
      blobs_.remove(d);
      removed.push_back(d);
    }
  }
  return removed;
}

void ModelStore::copy(const ModelName& src, const ModelName& dst) {
  const StoredModel from = get(src);
  const fs::path from_path = manifests_dir() / from.name.manifest_path();
  write_file_atomic(manifests_dir() / canonical(dst).manifest_path(), read_file(from_path, kMaxManifestBytes));
}

}  // namespace kiln::store
