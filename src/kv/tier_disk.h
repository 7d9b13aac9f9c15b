#pragma once
// The disk tier of the KV prefix cache: block files in a directory with a
// byte budget, an index rebuilt at startup, a background writer, and
// verified parallel reads. KvCache drives it (kv_cache_tier.cpp); the file
// format is tier_disk_format.h, the eviction order tier_disk_index.h.
//
// Threads: the cache's thread calls every public method; one writer thread
// owns file writes, touches and evictions. A mutex guards the index and the
// counters; file I/O happens outside it. The forward pass never waits on
// disk: write_async copies the block and returns (or drops the copy when the
// queue is full); only a prefix restore (read) reads files synchronously.
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <unordered_set>
#include <vector>

#include "kv/kv_config.h"
#include "kv/tier_disk_format.h"
#include "kv/tier_disk_index.h"
#include "kv/tier_stats.h"

namespace kiln::kv::tier {

class DiskTier {
 public:
  // Creates (or opens) config.directory/<model root hash>/, removes leftover
  // temporary files and entries that fail the header check, and rebuilds the
  // index from the headers. Throws kiln::Error when the directory cannot be
  // created or the budget is zero.
  DiskTier(const DiskTierConfig& config, const CacheConfig& cache, const BlockHash& model_root);
  // Writes what is queued, then stops the writer.
  ~DiskTier();
  DiskTier(const DiskTier&) = delete;
  DiskTier& operator=(const DiskTier&) = delete;

  const std::filesystem::path& directory() const { return dir_; }
  // The entry is on disk and complete (queued or half-written ones are not).
  bool contains(const EntryKey& key) const;

  // Queues a copy of a block's bytes for writing, unless the entry is on
  // disk or queued already. Never waits; drops the copy (counted) when the
  // queue holds write_queue_bytes already.
  void write_async(const EntryKey& key, const BlockHash& parent, uint32_t depth, std::span<const uint8_t> bytes);
  // Queues "chain (first block first) was used at this tick" for the
  // eviction order (after the writes queued before it, so a chain computed
  // by the previous request is touched too). hit: the lookup reused it.
  void touch_async(std::vector<BlockHash> chain, double tick, bool hit);
  // The tick of the next prefix lookup (one per attach_prefix).
  double next_tick();

  // Reads entries straight into pool memory, in parallel. An entry that is
  // missing or fails verification comes back with ok = false and leaves the
  // index (a corrupt file is deleted); the caller treats it as a miss.
  struct ReadJob {
    EntryKey key;
    uint8_t* dst = nullptr;
    bool ok = false;
  };
  void read(std::span<ReadJob> jobs);

  // Waits until every queued write and touch is done (tests, benchmarks).
  void flush();

  void count_lookup(uint64_t hits, uint64_t misses);
  DiskTierStats stats() const;
  // Entries from the first to be evicted to the last (tests).
  std::vector<EntryKey> eviction_order() const;

 private:
  struct Op {
    bool is_write = true;
    EntryHeader header;             // write
    std::vector<uint8_t> bytes;     // write
    std::vector<BlockHash> chain;   // touch
    double tick = 0;
    bool hit = false;
  };
  void scan();
  void writer_loop();
  void do_write(Op& op);
  void do_touch(const Op& op);
  void remove_file(const EntryKey& key);
  size_t payload_bytes(uint32_t group) const { return payload_bytes_[group]; }

  DiskTierConfig config_;
  std::filesystem::path dir_;
  std::vector<uint64_t> fingerprints_;   // per group
  std::vector<size_t> payload_bytes_;    // per group: block bytes
  std::vector<bool> needs_parent_;       // per group: full attention (a chain is useless after a hole)

  mutable std::mutex mu_;
  std::condition_variable wake_writer_, idle_;
  DiskIndex index_;
  std::unordered_set<EntryKey, EntryKeyHasher> in_flight_;  // queued or being written
  std::deque<Op> queue_;
  std::vector<std::vector<uint8_t>> spare_buffers_;  // recycled block copies
  uint64_t queued_bytes_ = 0;
  bool busy_ = false;
  bool stopping_ = false;
  double tick_ = 0;
  DiskTierStats stats_;
  std::thread writer_;
};

}  // namespace kiln::kv::tier
