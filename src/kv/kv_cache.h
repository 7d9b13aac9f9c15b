#pragma once
// The paged KV cache: sequences, their block tables (one per layer group),
// prefix sharing, sliding-window release and storage access for backends.
//
// Life of a sequence (all calls from the scheduler's thread; the cache is not
// thread-safe, the forward pass only reads block tables and writes K/V):
//   id = create_sequence();
//   attach_prefix(id, prompt, prompt.size() - 1);   // reuse cached blocks
//   append(id, next chunk of tokens);   // reserve slots (may throw OutOfBlocks)
//   ... forward pass writes K/V into the reserved slots ...
//   mark_computed(id);                  // full blocks become shareable
//   fork / truncate / free_sequence as the engine needs.
//
// Positions 0..length-1 of a sequence are its tokens. Positions below
// computed() have K/V written; appended tokens above it are reserved slots.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kv/block_pool.h"
#include "kv/kv_config.h"
#include "kv/kv_types.h"
#include "kv/tier_stats.h"

namespace kiln::kv {

namespace tier {
class TierLink;
}

class KvCache {
 public:
  explicit KvCache(CacheConfig config);

  const CacheConfig& config() const { return config_; }
  int block_size() const { return config_.block_size; }
  int num_groups() const { return int(pools_.size()); }
  int window(int group) const { return config_.groups[size_t(group)].window; }
  BlockPool& pool(int group) { return pools_[size_t(group)]; }
  const BlockPool& pool(int group) const { return pools_[size_t(group)]; }
  // Which group holds a model layer, and its index inside that group.
  int group_of_layer(int layer) const;
  int local_layer(int layer) const;

  // ---- sequences
  // A new empty sequence. Throws kiln::Error when max_sequences are live.
  SeqId create_sequence();
  bool contains(SeqId id) const {
    return id < SeqId(config_.max_sequences) && ((live_[id >> 6] >> (id & 63)) & 1u);
  }
  int num_sequences() const { return live_count_; }
  int64_t length(SeqId id) const { return int64_t(seq(id).tokens.size()); }
  int64_t computed(SeqId id) const { return seq(id).n_computed; }
  std::span<const Token> tokens(SeqId id) const { return seq(id).tokens; }
  // Logical block i covers positions [i*block_size, (i+1)*block_size).
  // Entries a sliding-window group released are kNoBlock.
  std::span<const BlockId> block_table(SeqId id, int group) const { return seq(id).tables[size_t(group)]; }
  // First position whose K/V a group still holds for this sequence.
  int64_t first_held_position(SeqId id, int group) const;

  // Reserves per-sequence bookkeeping for up to max_tokens tokens (the
  // engine's context size), so that appends, computing and metadata up to
  // that length allocate nothing on the heap. Ids keep their capacity when
  // recycled.
  void reserve(SeqId id, int64_t max_tokens);

  // Blocks append(id, n_new tokens) would take from a group's pool (new
  // blocks plus a copy-on-write copy of a shared tail block).
  int64_t blocks_needed(SeqId id, int64_t n_new, int group) const;
  bool can_append(SeqId id, int64_t n_new) const;
  // Reserves slots for tokens at positions length().. and records their ids.
  // Throws OutOfBlocks, leaving the cache unchanged, if any group lacks blocks.
  void append(SeqId id, std::span<const Token> tokens);
  // Declares the K/V of every appended token written: full blocks get their
  // prefix hash and become findable by other sequences; a sliding-window
  // group releases blocks no future query can see.
  void mark_computed(SeqId id);
  // A new sequence sharing all of src's blocks by reference (copy-on-write on
  // the first write into a shared block). src must be fully computed. Never
  // takes blocks from the pool.
  SeqId fork(SeqId src);
  // Keeps the first n tokens. A sliding-window group must then hold positions
  // >= n - window + 1 again: blocks it released are taken back from the prefix
  // cache; can_truncate() is false (and truncate throws kiln::Error, changing
  // nothing) when one of them has been evicted.
  bool can_truncate(SeqId id, int64_t n) const;
  void truncate(SeqId id, int64_t n);
  // Releases every block (tail first, so a shared prefix outlives the
  // sequence's own tail in the LRU set) and recycles the id.
  void free_sequence(SeqId id);

  // ---- prefix cache
  // Tokens of prompt (a multiple of block_size, at most max_tokens) whose K/V
  // every group can supply from cached blocks. max_tokens lets the engine keep
  // at least one prompt token to compute logits from.
  int64_t cached_prefix_length(std::span<const Token> prompt, int64_t max_tokens) const;
  // Attaches that prefix to an empty sequence (no blocks are allocated, so it
  // cannot fail) and returns its length; the caller appends the rest.
  int64_t attach_prefix(SeqId id, std::span<const Token> prompt, int64_t max_tokens);

  // ---- storage (see BlockLayout for the byte layout inside a block)
  const BlockLayout& layout(int group) const { return pools_[size_t(group)].layout(); }
  uint8_t* k_data(int layer, BlockId block);
  uint8_t* v_data(int layer, BlockId block);
  const uint8_t* k_data(int layer, BlockId block) const;
  const uint8_t* v_data(int layer, BlockId block) const;
  // Slot of position pos in a group: block * block_size + offset, or -1 when
  // the group released it. pos must be below length().
  int64_t slot(SeqId id, int group, int64_t pos) const;
  // Moves every group's blocks into storage made by make(bytes, group) (a
  // device backend's memory), contents included. Afterwards write() and
  // gather() need host-accessible storage and throw kiln::Error otherwise.
  void move_storage(const std::function<std::unique_ptr<BlockStorage>(size_t bytes, int group)>& make);
  // Stores one token's K and V rows (f32, [kv_head][head_dim]) at a slot of
  // the layer's group, converting to the cache's element type.
  void write(int layer, int64_t slot, const float* k, const float* v);
  // Copies positions [begin, end) of a sequence's K and V for a layer into
  // contiguous f32 buffers laid out [position][kv_head][head_dim]. Throws
  // kiln::Error for a range outside what the layer's group holds.
  void gather(SeqId id, int layer, int64_t begin, int64_t end, float* k_out, float* v_out) const;

  // ---- memory tiers (docs/kv-tiers.md; kv_cache_tier.cpp)
  // Adds the disk tier below the RAM prefix cache: every full computed block
  // is written through to config.directory in the background, and prefix
  // lookups (cached_prefix_length, attach_prefix) continue the hash chain on
  // disk where RAM ends; attach_prefix then allocates blocks for the disk
  // part and fills them from the files. Call once, before the first
  // sequence, on a cache that stays where it is (not moved). Throws
  // kiln::Error when the directory cannot be used.
  void enable_disk_tier(const DiskTierConfig& config);
  bool has_disk_tier() const;
  // Where this model's entries live (directory/<model root hash>), or "".
  std::string disk_tier_directory() const;
  // Waits until queued disk writes are done (tests, benchmarks, shutdown).
  void flush_disk_tier();
  KvTierStats tier_stats() const;

  // Checks every bookkeeping invariant (refcounts equal the references from
  // block tables, free + used + cached == total, the hash tables and LRU lists
  // agree with the block states, sequence membership matches the bitset);
  // throws kiln::Error naming the first violation. O(total blocks + tokens).
  void check_invariants() const;

 private:
  struct Sequence {
    std::vector<Token> tokens;
    std::vector<BlockHash> hashes;  // one per full computed block
    int64_t n_computed = 0;
    std::vector<std::vector<BlockId>> tables;  // per group
    std::vector<int64_t> first_held;           // per group: first held logical block
  };

  Sequence& seq(SeqId id);
  const Sequence& seq(SeqId id) const;
  void check_layer(int layer) const;
  // First logical block a window group must hold once queries start at pos.
  int64_t window_first_block(int group, int64_t first_query_pos) const;
  void release_out_of_window(Sequence& s);
  BlockId ensure_writable_tail(Sequence& s, int group);
  // Longest cached prefix in blocks; leaves the prompt's block hashes in
  // prefix_scratch_ (computed only up to the first block a full-attention
  // group lacks).
  int64_t match_prefix(std::span<const Token> prompt, int64_t max_tokens) const;
  bool window_blocks_cached(int group, int64_t begin_block, int64_t end_block) const;

  friend class tier::TierLink;
  // match_prefix, continuing on disk where RAM ends when use_disk.
  int64_t match_prefix_tiers(std::span<const Token> prompt, int64_t max_tokens, bool use_disk) const;
  bool block_available(int group, int64_t block, bool use_disk) const;
  // attach_prefix with a disk tier: restores the disk part of the prefix.
  int64_t attach_prefix_tiers(Sequence& s, std::span<const Token> prompt, int64_t max_tokens);
  // Sets s to the first m blocks of the prompt whose hashes are in
  // prefix_scratch_, retaining the RAM blocks each group needs; blocks not in
  // RAM stay kNoBlock and are returned in missing as (group, block).
  void attach_blocks(Sequence& s, std::span<const Token> prompt, int64_t m,
                     std::vector<std::pair<int, int64_t>>* missing);
  void detach_blocks(Sequence& s);

  CacheConfig config_;
  BlockHash model_root_;
  std::vector<BlockPool> pools_;
  std::vector<int> layer_group_;  // model layer -> group, -1 if none
  std::vector<int> layer_local_;  // model layer -> index inside its group
  std::vector<Sequence> seqs_;    // indexed by SeqId
  std::vector<uint64_t> live_;    // membership bitset
  std::vector<SeqId> free_ids_;   // recycled ids (stack)
  int live_count_ = 0;
  mutable std::vector<BlockHash> prefix_scratch_;
  std::shared_ptr<tier::TierLink> tiers_;  // null without a disk tier
  uint64_t ram_hits_ = 0, ram_misses_ = 0;
};

}  // namespace kiln::kv
