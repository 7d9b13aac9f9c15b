#include "kv/batch_metadata.h"

#include <algorithm>
#include <limits>

namespace kiln::kv {

BatchMetadata::BatchMetadata(const KvCache& cache, int max_seqs, int max_tokens, int max_blocks_per_seq)
    : max_seqs_(max_seqs), max_tokens_(max_tokens), max_blocks_(max_blocks_per_seq) {
  if (max_seqs <= 0 || max_tokens <= 0 || max_blocks_per_seq <= 0)
    throw kiln::Error("batch metadata capacities must be positive");
  positions_.resize(size_t(max_tokens));
  token_seq_.resize(size_t(max_tokens));
  query_start_.resize(size_t(max_seqs) + 1);
  seq_lens_.resize(size_t(max_seqs));
  groups_.resize(size_t(cache.num_groups()));
  for (int g = 0; g < cache.num_groups(); ++g) {
    GroupBuffers& gb = groups_[size_t(g)];
    gb.window = cache.window(g);
    gb.slot_mapping.resize(size_t(max_tokens));
    gb.block_table.resize(size_t(max_seqs) * size_t(max_blocks_per_seq));
    gb.key_begin.resize(size_t(max_seqs));
  }
  seen_.assign((size_t(cache.config().max_sequences) + 63) / 64, 0);
}

BatchMetadata::Group BatchMetadata::group(int g) const {
  const GroupBuffers& gb = groups_.at(size_t(g));
  Group out;
  out.window = gb.window;
  out.slot_mapping = {gb.slot_mapping.data(), size_t(n_tokens_)};
  out.block_table = {gb.block_table.data(), size_t(n_seqs_) * size_t(gb.stride)};
  out.stride = gb.stride;
  out.key_begin = {gb.key_begin.data(), size_t(n_seqs_)};
  return out;
}

void BatchMetadata::build(const KvCache& cache, std::span<const BatchEntry> batch) {
  if (int64_t(batch.size()) > max_seqs_)
    throw kiln::Error("batch of " + std::to_string(batch.size()) + " sequences exceeds the metadata capacity of " +
                      std::to_string(max_seqs_));
  if (groups_.size() != size_t(cache.num_groups()))
    throw kiln::Error("batch metadata was sized for another KV cache");
  const int64_t bs = cache.block_size();

  // Pass 1: validate, count tokens, find the widest block table. seen_
  // marks sequences of this batch; it is cleared again before returning.
  int64_t total = 0, widest = 0;
  size_t marked = 0;
  const auto clear_seen = [&] {
    for (size_t i = 0; i < marked; ++i) seen_[batch[i].seq >> 6] = 0;
  };
  for (const BatchEntry& e : batch) {
    if (!cache.contains(e.seq)) {
      clear_seen();
      throw kiln::Error("batch names unknown KV sequence " + std::to_string(e.seq));
    }
    const int64_t len = cache.length(e.seq);
    uint64_t& word = seen_[e.seq >> 6];
    const uint64_t bit = uint64_t(1) << (e.seq & 63);
    if (e.n_new < 1 || e.n_new > len || (word & bit) != 0) {
      clear_seen();
      throw kiln::Error((word & bit) != 0 ? "batch names KV sequence " + std::to_string(e.seq) + " twice"
                                          : "batch entry for KV sequence " + std::to_string(e.seq) + " has " +
                                                std::to_string(e.n_new) + " new tokens but the sequence has " +
                                                std::to_string(len));
    }
    word |= bit;
    ++marked;
    total += e.n_new;
    widest = std::max(widest, (len + bs - 1) / bs);
  }
  clear_seen();
  if (total > max_tokens_)
    throw kiln::Error("batch of " + std::to_string(total) + " tokens exceeds the metadata capacity of " +
                      std::to_string(max_tokens_));
  if (widest > max_blocks_)
    throw kiln::Error("a sequence of " + std::to_string(widest) + " blocks exceeds the metadata capacity of " +
                      std::to_string(max_blocks_) + " blocks per sequence");
  if (total > std::numeric_limits<int32_t>::max() || widest * bs > std::numeric_limits<int32_t>::max())
    throw kiln::Error("batch too large for 32-bit attention metadata");

  // Pass 2: fill.
  n_seqs_ = int(batch.size());
  n_tokens_ = int(total);
  for (GroupBuffers& gb : groups_) gb.stride = int32_t(widest);
  int32_t t = 0;
  query_start_[0] = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const BatchEntry& e = batch[i];
    const int64_t len = cache.length(e.seq);
    const int64_t first_query = len - e.n_new;
    seq_lens_[i] = int32_t(len);
    for (int64_t p = first_query; p < len; ++p) {
      positions_[size_t(t + p - first_query)] = int32_t(p);
      token_seq_[size_t(t + p - first_query)] = int32_t(i);
    }
    for (size_t g = 0; g < groups_.size(); ++g) {
      GroupBuffers& gb = groups_[g];
      const std::span<const BlockId> table = cache.block_table(e.seq, int(g));
      int32_t* row = gb.block_table.data() + i * size_t(widest);
      for (size_t j = 0; j < table.size(); ++j) row[j] = table[j] == kNoBlock ? -1 : int32_t(table[j]);
      std::fill(row + table.size(), row + widest, -1);
      gb.key_begin[i] = int32_t(gb.window == 0 ? 0 : std::max<int64_t>(0, first_query - gb.window + 1));
      for (int64_t p = first_query; p < len; ++p) {
        const int32_t block = row[p / bs];
        if (block < 0)
          throw kiln::Error("new token at position " + std::to_string(p) + " of KV sequence " +
                            std::to_string(e.seq) + " has no slot in layer group " + std::to_string(g));
        gb.slot_mapping[size_t(t + p - first_query)] = int32_t(block * bs + p % bs);
      }
    }
    t += e.n_new;
    query_start_[i + 1] = t;
  }
}

void fill_mask_row(std::span<float> out, int64_t query_pos, int64_t key_begin, int window) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (size_t j = 0; j < out.size(); ++j)
    out[j] = key_visible(query_pos, key_begin + int64_t(j), window) ? 0.0f : kNegInf;
}

void fill_mask(const BatchMetadata& meta, int group, int entry, std::span<float> out) {
  const BatchMetadata::Group g = meta.group(group);
  if (entry < 0 || entry >= meta.n_seqs()) throw kiln::Error("mask for batch entry " + std::to_string(entry) +
                                                             " of a batch of " + std::to_string(meta.n_seqs()));
  const int64_t q0 = meta.query_start()[size_t(entry)];
  const int64_t q1 = meta.query_start()[size_t(entry) + 1];
  const int64_t key_begin = g.key_begin[size_t(entry)];
  const size_t width = size_t(meta.seq_lens()[size_t(entry)] - key_begin);
  if (out.size() < size_t(q1 - q0) * width)
    throw kiln::Error("mask buffer of " + std::to_string(out.size()) + " floats is smaller than " +
                      std::to_string(size_t(q1 - q0) * width));
  for (int64_t q = q0; q < q1; ++q)
    fill_mask_row(out.subspan(size_t(q - q0) * width, width), meta.positions()[size_t(q)], key_begin, g.window);
}

}  // namespace kiln::kv
