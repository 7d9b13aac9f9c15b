// KV memory tiers on the KvCache side: enabling the disk tier, the
// write-through observer, restoring the disk part of a prefix in
// attach_prefix, and the tier counters. The disk tier itself is tier_disk.*.
#include <algorithm>
#include <chrono>

#include "kv/kv_cache.h"
#include "kv/tier_link.h"

namespace kiln::kv {

namespace tier {

TierLink::TierLink(KvCache& cache, const DiskTierConfig& config)
    : cache_(cache), disk_(std::make_unique<DiskTier>(config, cache.config(), cache.model_root_)) {
  for (BlockPool& pool : cache_.pools_) pool.set_observer(this);
}

TierLink::~TierLink() {
  for (BlockPool& pool : cache_.pools_) pool.set_observer(nullptr);
}

bool TierLink::pools_on_host() const {
  for (const BlockPool& pool : cache_.pools_)
    if (!pool.storage().host_accessible()) return false;
  return true;
}

void TierLink::on_registered(int group, BlockId b, const BlockHash& hash) {
  // Device memory (a CUDA pool) cannot be copied from here; the GPU tier
  // has to bring blocks to the host first.
  if (restoring || !cache_.pools_[size_t(group)].storage().host_accessible()) return;
  // mark_computed pushes a block's hash onto its sequence, then registers
  // the block: the sequence whose newest hash this is knows the chain.
  for (size_t w = 0; w < cache_.live_.size(); ++w) {
    for (uint64_t bits = cache_.live_[w]; bits != 0; bits &= bits - 1) {
      const SeqId id = SeqId(w * 64 + size_t(__builtin_ctzll(bits)));
      const std::vector<BlockHash>& hashes = cache_.seqs_[id].hashes;
      if (hashes.empty() || !(hashes.back() == hash)) continue;
      const size_t depth = hashes.size() - 1;
      const BlockHash& parent = depth == 0 ? cache_.model_root_ : hashes[depth - 1];
      const BlockPool& pool = cache_.pools_[size_t(group)];
      disk_->write_async({hash, uint32_t(group)}, parent, uint32_t(depth),
                         std::span<const uint8_t>(pool.data(b), pool.layout().block_bytes));
      return;
    }
  }
}

}  // namespace tier

void KvCache::enable_disk_tier(const DiskTierConfig& config) {
  if (tiers_) throw kiln::Error("the KV cache has a disk tier already");
  for (const BlockPool& pool : pools_)
    if (!pool.storage().host_accessible())
      throw kiln::Error("the KV disk tier needs the KV blocks in host memory (a GPU cache has none yet)");
  tiers_ = std::make_shared<tier::TierLink>(*this, config);
}

bool KvCache::has_disk_tier() const { return tiers_ != nullptr; }

std::string KvCache::disk_tier_directory() const { return tiers_ ? tiers_->disk().directory().string() : ""; }

void KvCache::flush_disk_tier() {
  if (tiers_) tiers_->disk().flush();
}

KvTierStats KvCache::tier_stats() const {
  KvTierStats s;
  for (const BlockPool& pool : pools_) {
    s.ram.blocks += pool.table_size();
    s.ram.bytes += uint64_t(pool.table_size()) * pool.layout().block_bytes;
    s.ram.evictions += pool.evictions();
  }
  s.ram.hits = ram_hits_;
  s.ram.misses = ram_misses_;
  if (tiers_) s.disk = tiers_->disk().stats();
  return s;
}

int64_t KvCache::attach_prefix_tiers(Sequence& s, std::span<const Token> prompt, int64_t max_tokens) {
  // A restore can fail part way (a corrupt or vanished file, which leaves
  // the index) or need more blocks than the pool can give; then everything
  // is undone and the lookup runs again with what is left. Each retry has a
  // shorter candidate, and the last one uses RAM alone.
  constexpr int kDiskAttempts = 8;
  const int64_t bs = config_.block_size;
  const int64_t limit = std::min<int64_t>(int64_t(prompt.size()), std::max<int64_t>(max_tokens, 0)) / bs;
  tier::DiskTier& disk = tiers_->disk();
  const double tick = disk.next_tick();  // blocks this request computes are written at it
  std::vector<std::pair<int, int64_t>> missing;
  std::vector<tier::DiskTier::ReadJob> jobs;
  std::vector<int64_t> need(pools_.size());
  int64_t cap = max_tokens;
  for (int attempt = 0;; ++attempt) {
    const bool use_disk = attempt < kDiskAttempts;
    const int64_t m = match_prefix_tiers(prompt, cap, use_disk);
    missing.clear();
    attach_blocks(s, prompt, m, use_disk ? &missing : nullptr);
    if (!missing.empty()) {
      std::fill(need.begin(), need.end(), 0);
      for (const auto& [g, i] : missing) ++need[size_t(g)];
      int64_t shortage = 0;
      for (size_t g = 0; g < pools_.size(); ++g) shortage = std::max(shortage, need[g] - pools_[g].available());
      if (shortage > 0) {  // restore a shorter prefix, into the blocks there are
        detach_blocks(s);
        cap = std::min(cap, std::max<int64_t>(m - shortage, 0) * bs);
        continue;
      }
      jobs.clear();
      for (const auto& [g, i] : missing) {
        const BlockId b = pools_[size_t(g)].allocate();
        s.tables[size_t(g)][size_t(i)] = b;
        jobs.push_back({{s.hashes[size_t(i)], uint32_t(g)}, pools_[size_t(g)].data(b), false});
      }
      disk.read(jobs);
      const bool all_ok = std::all_of(jobs.begin(), jobs.end(), [](const auto& j) { return j.ok; });
      if (!all_ok) {  // the bad entries left the index; look again
        detach_blocks(s);
        continue;
      }
      tiers_->restoring = true;
      for (const auto& [g, i] : missing)
        pools_[size_t(g)].register_hash(s.tables[size_t(g)][size_t(i)], s.hashes[size_t(i)]);
      tiers_->restoring = false;
    }
    const uint64_t restored = missing.size();
    const uint64_t unreused = uint64_t(limit - m) * uint64_t(num_groups());
    int64_t attached = 0;
    for (size_t g = 0; g < pools_.size(); ++g)
      for (BlockId b : s.tables[g]) attached += b != kNoBlock;
    ram_hits_ += uint64_t(attached) - restored;
    ram_misses_ += restored + unreused;
    disk.count_lookup(restored, unreused);
    // Blocks reused from RAM whose entries the disk evicted meanwhile (or
    // never got: a full queue) are written again now that they proved hot,
    // parents first, so a restart finds the whole prefix.
    for (size_t g = 0; g < pools_.size(); ++g)
      for (int64_t i = 0; i < m; ++i)
        if (const BlockId b = s.tables[g][size_t(i)]; b != kNoBlock)
          disk.write_async({s.hashes[size_t(i)], uint32_t(g)}, i == 0 ? model_root_ : s.hashes[size_t(i - 1)],
                           uint32_t(i), std::span<const uint8_t>(pools_[g].data(b), pools_[g].layout().block_bytes));
    if (m > 0) disk.touch_async(s.hashes, tick, true);
    return m * bs;
  }
}

}  // namespace kiln::kv
