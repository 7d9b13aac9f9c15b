#pragma once
// Attention metadata for one forward step, built into buffers sized once so
// that starting a step allocates nothing. For a batch of (sequence, number of
// new tokens) it lists, per token, its position and the slot its K/V go to,
// and per sequence the block table the attention kernel reads K/V through
// (one set per layer group). The layout follows what paged-attention kernels
// expect (vLLM's): int32 arrays, a dense block-table matrix padded with -1.
//
// Masks are implicit in (position, key range, window); fill_mask() writes an
// explicit one into a caller's buffer for kernels that want it.
#include <cstdint>
#include <span>
#include <vector>

#include "kv/kv_cache.h"

namespace kiln::kv {

// The last n_new tokens appended to seq are this step's queries.
struct BatchEntry {
  SeqId seq = 0;
  int32_t n_new = 0;
};

class BatchMetadata {
 public:
  struct Group {
    int32_t window = 0;  // 0: full causal attention
    // [n_tokens]: block * block_size + offset where each new token's K/V go.
    std::span<const int32_t> slot_mapping;
    // [n_seqs][stride]: logical block i of each sequence; -1 where a window
    // group released the block and as padding after the sequence's last block.
    std::span<const int32_t> block_table;
    int32_t stride = 0;
    // [n_seqs]: first key position any query of the sequence can see (0 for
    // full attention, first query - window + 1 for a window group).
    std::span<const int32_t> key_begin;
  };

  // Room for batches of up to max_seqs sequences, max_tokens new tokens and
  // sequences of up to max_blocks_per_seq blocks.
  BatchMetadata(const KvCache& cache, int max_seqs, int max_tokens, int max_blocks_per_seq);

  // Fills the buffers for a batch. Throws kiln::Error for an unknown or
  // repeated sequence, n_new outside 1..length, or a batch beyond the
  // capacity given at construction (all checked before anything is written),
  // and for new tokens whose slots a window group released. Never allocates.
  void build(const KvCache& cache, std::span<const BatchEntry> batch);

  int n_seqs() const { return n_seqs_; }
  int n_tokens() const { return n_tokens_; }
  std::span<const int32_t> positions() const { return {positions_.data(), size_t(n_tokens_)}; }
  // [n_tokens]: index of the batch entry each token belongs to.
  std::span<const int32_t> token_seq() const { return {token_seq_.data(), size_t(n_tokens_)}; }
  // [n_seqs + 1]: tokens of entry i are [query_start[i], query_start[i+1]).
  std::span<const int32_t> query_start() const { return {query_start_.data(), size_t(n_seqs_) + 1}; }
  // [n_seqs]: context length of each sequence including its new tokens.
  std::span<const int32_t> seq_lens() const { return {seq_lens_.data(), size_t(n_seqs_)}; }
  Group group(int g) const;

 private:
  struct GroupBuffers {
    int32_t window = 0;
    int32_t stride = 0;
    std::vector<int32_t> slot_mapping, block_table, key_begin;
  };
  int max_seqs_, max_tokens_, max_blocks_;
  int n_seqs_ = 0, n_tokens_ = 0;
  std::vector<int32_t> positions_, token_seq_, query_start_, seq_lens_;
  std::vector<GroupBuffers> groups_;
  std::vector<uint64_t> seen_;  // sequences already in the batch being built
};

// Whether a query at position q sees the key at position k (causal, and
// q - k < window when window > 0).
inline bool key_visible(int64_t q, int64_t k, int window) { return k <= q && (window == 0 || q - k < window); }

// out[j] = 0 if the key at key_begin + j is visible from query_pos, -inf if not.
void fill_mask_row(std::span<float> out, int64_t query_pos, int64_t key_begin, int window);

// The mask of batch entry i for a group: n_new rows (its queries) by
// seq_len - key_begin columns (keys from key_begin), row-major, into out.
// Throws kiln::Error if out is too small.
void fill_mask(const BatchMetadata& meta, int group, int entry, std::span<float> out);

}  // namespace kiln::kv
