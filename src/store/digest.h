#pragma once
// Content digests of the model store: sha256 of a blob's bytes, written
// "sha256:<64 lowercase hex>" in manifests and "sha256-<64 hex>" as a blob's
// file name (Ollama's layout). A Digest can only be built from validated text,
// so a digest read from a manifest can never name a path outside blobs/.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace kiln::store {

class Digest {
 public:
  // Accepts "sha256:<hex>" or "sha256-<hex>" with exactly 64 hex digits
  // (upper case is folded to lower); anything else throws kiln::Error.
  static Digest parse(std::string_view text);
  // nullopt-free check for callers that only want to know.
  static bool is_valid(std::string_view text);
  // From 32 raw hash bytes.
  static Digest from_bytes(std::span<const uint8_t, 32> hash);

  const std::string& hex() const { return hex_; }
  std::string str() const { return "sha256:" + hex_; }        // manifest form
  std::string file_name() const { return "sha256-" + hex_; }  // blob file form
  std::string short_id() const { return hex_.substr(0, 12); }  // `kiln list` ID

  bool operator==(const Digest&) const = default;
  auto operator<=>(const Digest&) const = default;

 private:
  std::string hex_;
};

// Incremental sha256 through OpenSSL's EVP interface (uses SHA-NI when the
// CPU has it, ~2 GB/s).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  void update(std::span<const uint8_t> bytes) { update(bytes.data(), bytes.size()); }
  Digest finish();  // the object cannot be updated afterwards

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  bool finished_ = false;
};

Digest sha256_of(std::span<const uint8_t> bytes);
Digest sha256_of(std::string_view text);
// Hashes a file in large chunks. progress(done, total) is called after each
// chunk when given. Throws kiln::Error naming the path on I/O failure.
Digest sha256_of_file(const std::filesystem::path& path,
                      const std::function<void(uint64_t, uint64_t)>& progress = {});

}  // namespace kiln::store
