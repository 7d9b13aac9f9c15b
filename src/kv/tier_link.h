#pragma once
// What ties a KvCache to its disk tier: the pools' observer that writes each
// newly registered (full, computed) block through to disk, and the lookups
// the prefix code makes. Owned by the KvCache (kv_cache_tier.cpp).
#include <memory>

#include "kv/block_pool.h"
#include "kv/tier_disk.h"

namespace kiln::kv {
class KvCache;
}

namespace kiln::kv::tier {

class TierLink final : public BlockObserver {
 public:
  TierLink(KvCache& cache, const DiskTierConfig& config);
  ~TierLink() override;

  DiskTier& disk() { return *disk_; }
  const DiskTier& disk() const { return *disk_; }
  bool on_disk(int group, const BlockHash& hash) const { return disk_->contains({hash, uint32_t(group)}); }
  // Whether restores can fill the pools (host memory; false once a device
  // backend moved the storage).
  bool pools_on_host() const;

  // Set while attach_prefix registers blocks it restored from disk: they are
  // on disk already.
  bool restoring = false;

  // Write-through: a block just got its prefix hash in mark_computed, so its
  // K/V are final. Its place in the chain (depth, parent) comes from the
  // sequence whose newest hash it is.
  void on_registered(int group, BlockId b, const BlockHash& hash) override;
  void on_evicted(int group, BlockId b, const BlockHash& hash) override {}

 private:
  KvCache& cache_;
  std::unique_ptr<DiskTier> disk_;
};

}  // namespace kiln::kv::tier
