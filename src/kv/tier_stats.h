#pragma once
// Counters of the KV memory tiers, for /metrics and benchmarks. The RAM tier
// is the block pools' prefix cache; the disk tier the files of DiskTier.
// Counts are in blocks of one layer group entry (a model with two layer
// groups, gemma3, counts each group's block) unless the name says bytes.
#include <cstdint>

namespace kiln::kv {

struct RamTierStats {
  uint64_t blocks = 0;          // blocks registered under a prefix hash (used or cached)
  uint64_t bytes = 0;           // their storage
  uint64_t hits = 0;            // blocks attach_prefix reused from RAM
  uint64_t misses = 0;          // blocks attach_prefix looked for and RAM lacked
  uint64_t evictions = 0;       // cached blocks reclaimed for new allocations
};

struct DiskTierStats {
  bool enabled = false;
  uint64_t blocks = 0;          // entries on disk
  uint64_t bytes = 0;           // their disk bytes (headers included, 4 KiB rounded)
  uint64_t budget_bytes = 0;
  uint64_t hits = 0;            // blocks restored from disk into the pool
  uint64_t misses = 0;          // blocks looked for after RAM and not on disk
  uint64_t evictions = 0;       // entries removed to stay within the budget
  uint64_t restore_ns = 0;      // time attach_prefix spent reading + checking entries
  uint64_t restored_bytes = 0;
  uint64_t writes = 0;          // entries written
  uint64_t write_bytes = 0;
  uint64_t write_ns = 0;        // writer thread time (files written, fsync included)
  uint64_t writes_dropped = 0;  // block copies dropped: the write queue was full
  uint64_t writes_refused = 0;  // entries not admitted: only better-ranked entries could make room
  uint64_t write_errors = 0;
  uint64_t corrupt_removed = 0;  // entries failing verification (read or startup scan), deleted
  uint64_t temp_removed = 0;    // leftover temporary files deleted at startup
};

struct KvTierStats {
  RamTierStats ram;
  DiskTierStats disk;
};

}  // namespace kiln::kv
