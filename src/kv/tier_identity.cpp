#include "kv/tier_identity.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <vector>

#include "core/error.h"

namespace kiln::kv::tier {

std::string weights_identity(const std::filesystem::path& gguf_path, uint64_t header_bytes) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(gguf_path, ec);
  if (ec) throw kiln::Error("cannot read " + gguf_path.string() + ": " + ec.message());
  if (header_bytes > size) throw kiln::Error(gguf_path.string() + ": header longer than the file");
  std::ifstream in(gguf_path, std::ios::binary);
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  std::vector<char> buf(size_t(1) << 20);
  for (uint64_t left = header_bytes; left > 0;) {
    const size_t n = size_t(std::min<uint64_t>(left, buf.size()));
    if (!in.read(buf.data(), std::streamsize(n))) {
      XXH3_freeState(state);
      throw kiln::Error("cannot read the header of " + gguf_path.string());
    }
    XXH3_128bits_update(state, buf.data(), n);
    left -= n;
  }
  const XXH128_hash_t h = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  char hex[40];
  std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return std::string("gguf-xxh3-128:") + hex + ":" + std::to_string(size);
}

}  // namespace kiln::kv::tier
