// The weights identity the engine puts into the KV hash chain: stable for
// the same file, different when the header or the size changes.
#include <gtest/gtest.h>

#include <fstream>

#include "kv/tier_identity.h"
#include "tier_test_util.h"

namespace kiln::kv {
namespace {

void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

TEST(KvTierIdentity, FollowsHeaderAndSizeNotPath) {
  testing::TempDir dir;
  const std::string header = "GGUF header: metadata and tensor infos";
  write_file(dir.path() / "a.gguf", header + std::string(1000, 'w'));
  write_file(dir.path() / "copy.gguf", header + std::string(1000, 'w'));
  write_file(dir.path() / "other.gguf", "GGUF header: metadata and tensor infoZ" + std::string(1000, 'w'));
  write_file(dir.path() / "longer.gguf", header + std::string(1001, 'w'));
  const std::string a = tier::weights_identity(dir.path() / "a.gguf", header.size());
  EXPECT_EQ(a, tier::weights_identity(dir.path() / "copy.gguf", header.size()));
  EXPECT_NE(a, tier::weights_identity(dir.path() / "other.gguf", header.size()));
  EXPECT_NE(a, tier::weights_identity(dir.path() / "longer.gguf", header.size()));
  EXPECT_EQ(a.rfind("gguf-xxh3-128:", 0), 0u);
  EXPECT_THROW(tier::weights_identity(dir.path() / "missing.gguf", 10), kiln::Error);
  EXPECT_THROW(tier::weights_identity(dir.path() / "a.gguf", 5000), kiln::Error);
}

}  // namespace
}  // namespace kiln::kv
