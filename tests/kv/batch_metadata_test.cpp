// Attention metadata: contents for a mixed batch, a scalar paged-attention
// reference that reads K/V through the block tables (as a backend kernel
// will) checked against plain attention over gathered K/V with an explicit
// mask, and a count of heap allocations in steady-state decode.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>

#include "core/alloc_counter.h"
#include "core/alloc_probe.h"  // the one file of test_kv that replaces operator new
#include "kv/batch_metadata.h"
#include "kv_test_util.h"

namespace kiln::kv {
namespace {

using testing::append_computed;
using testing::small_config;

std::vector<Token> tokens_from(int n, Token start) {
  std::vector<Token> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[size_t(i)] = start + i;
  return t;
}

// Deterministic query vector for a token and layer.
void query_row(int64_t token_index, int layer, int n, float* out) {
  for (int i = 0; i < n; ++i) out[i] = float(((token_index * 31 + layer * 7 + i * 13) % 17) - 8) / 8.0f;
}

// Scalar paged attention for one query head: keys and values are read
// straight from block storage through the block table, dequantizing rows.
void paged_attention(const KvCache& cache, const BatchMetadata& meta, int layer, int token, int kv_head,
                     const float* q, float* out) {
  const int g = cache.group_of_layer(layer);
  const LayerGroupConfig& gc = cache.config().groups[size_t(g)];
  const BlockLayout& l = cache.layout(g);
  const BatchMetadata::Group mg = meta.group(g);
  const int entry = meta.token_seq()[size_t(token)];
  const int64_t q_pos = meta.positions()[size_t(token)];
  const int64_t bs = cache.block_size();
  std::vector<float> k(static_cast<size_t>(gc.k_head_dim)), v(static_cast<size_t>(gc.v_head_dim));
  std::vector<float> scores;
  std::vector<int64_t> keys;
  for (int64_t pos = mg.key_begin[size_t(entry)]; pos < meta.seq_lens()[size_t(entry)]; ++pos) {
    if (!key_visible(q_pos, pos, mg.window)) continue;
    const int32_t block = mg.block_table[size_t(entry) * size_t(mg.stride) + size_t(pos / bs)];
    EXPECT_GE(block, 0);
    load_row(cache.config().type, l.k_rotation,
             cache.k_data(layer, BlockId(block)) + kv_head * l.k_head_stride + (pos % bs) * l.k_row_bytes, k.data(),
             gc.k_head_dim);
    float s = 0;
    for (int i = 0; i < gc.k_head_dim; ++i) s += q[i] * k[size_t(i)];
    scores.push_back(s);
    keys.push_back(pos);
  }
  float mx = -std::numeric_limits<float>::infinity(), sum = 0;
  for (float s : scores) mx = std::max(mx, s);
  for (float& s : scores) sum += (s = std::exp(s - mx));
  std::fill(out, out + gc.v_head_dim, 0.0f);
  for (size_t j = 0; j < keys.size(); ++j) {
    const int32_t block = mg.block_table[size_t(entry) * size_t(mg.stride) + size_t(keys[j] / bs)];
    load_row(cache.config().type, l.v_rotation,
             cache.v_data(layer, BlockId(block)) + kv_head * l.v_head_stride + (keys[j] % bs) * l.v_row_bytes, v.data(),
             gc.v_head_dim);
    for (int i = 0; i < gc.v_head_dim; ++i) out[i] += scores[j] / sum * v[size_t(i)];
  }
}

// Plain attention over gathered contiguous K/V and an explicit mask.
void dense_attention(const KvCache& cache, const BatchMetadata& meta, int layer, int entry, SeqId id, int token,
                     int kv_head, const float* q, float* out) {
  const int g = cache.group_of_layer(layer);
  const LayerGroupConfig& gc = cache.config().groups[size_t(g)];
  const int64_t begin = meta.group(g).key_begin[size_t(entry)], end = meta.seq_lens()[size_t(entry)];
  const int64_t width = end - begin;
  const int kw = gc.n_kv_heads * gc.k_head_dim, vw = gc.n_kv_heads * gc.v_head_dim;
  std::vector<float> k(static_cast<size_t>(width * kw)), v(static_cast<size_t>(width * vw));
  cache.gather(id, layer, begin, end, k.data(), v.data());
  const int n_q = meta.query_start()[size_t(entry) + 1] - meta.query_start()[size_t(entry)];
  std::vector<float> mask(static_cast<size_t>(n_q * width));
  fill_mask(meta, g, entry, mask);
  const float* row = mask.data() + (token - meta.query_start()[size_t(entry)]) * width;
  std::vector<float> scores(static_cast<size_t>(width));
  float mx = -std::numeric_limits<float>::infinity(), sum = 0;
  for (int64_t j = 0; j < width; ++j) {
    float s = 0;
    for (int i = 0; i < gc.k_head_dim; ++i) s += q[i] * k[size_t(j * kw + kv_head * gc.k_head_dim + i)];
    scores[size_t(j)] = s + row[j];
    mx = std::max(mx, scores[size_t(j)]);
  }
  for (float& s : scores) sum += (s = std::exp(s - mx));
  std::fill(out, out + gc.v_head_dim, 0.0f);
  for (int64_t j = 0; j < width; ++j)
    for (int i = 0; i < gc.v_head_dim; ++i)
      out[i] += scores[size_t(j)] / sum * v[size_t(j * vw + kv_head * gc.v_head_dim + i)];
}

class BatchMetadataTest : public ::testing::TestWithParam<KvType> {};

TEST_P(BatchMetadataTest, MixedBatchMetadataAndPagedAttention) {
  const int window = 40;
  KvCache cache(small_config(GetParam(), 16, window, 64, 32));
  const SeqId a = cache.create_sequence();
  append_computed(cache, a, tokens_from(100, 0));
  const SeqId c = cache.fork(a);
  const SeqId b = cache.create_sequence();
  // This step: a decodes one token, b prefills 37, c (sharing a's blocks)
  // takes 5 tokens, the first of which copies the shared tail block.
  cache.append(a, tokens_from(1, 500));
  cache.append(b, tokens_from(37, 1000));
  cache.append(c, tokens_from(5, 2000));
  const BatchEntry batch[] = {{a, 1}, {b, 37}, {c, 5}};
  BatchMetadata meta(cache, 8, 64, 16);
  meta.build(cache, batch);

  ASSERT_EQ(meta.n_seqs(), 3);
  ASSERT_EQ(meta.n_tokens(), 43);
  EXPECT_EQ(std::vector<int32_t>(meta.query_start().begin(), meta.query_start().end()),
            (std::vector<int32_t>{0, 1, 38, 43}));
  EXPECT_EQ(std::vector<int32_t>(meta.seq_lens().begin(), meta.seq_lens().end()),
            (std::vector<int32_t>{101, 37, 105}));
  EXPECT_EQ(meta.positions()[0], 100);
  EXPECT_EQ(meta.positions()[1], 0);
  EXPECT_EQ(meta.positions()[38], 100);
  EXPECT_EQ(meta.token_seq()[40], 2);
  for (int g = 0; g < 2; ++g) {
    const BatchMetadata::Group mg = meta.group(g);
    EXPECT_EQ(mg.stride, 7);  // c: 105 tokens = 7 blocks
    for (int i = 0; i < 3; ++i) {
      const SeqId id = batch[i].seq;
      const auto table = cache.block_table(id, g);
      for (int j = 0; j < mg.stride; ++j) {
        const int32_t got = mg.block_table[size_t(i * mg.stride + j)];
        const int32_t want = size_t(j) < table.size() && table[size_t(j)] != kNoBlock ? int32_t(table[size_t(j)]) : -1;
        EXPECT_EQ(got, want) << "group " << g << " entry " << i << " block " << j;
      }
      for (int t = meta.query_start()[size_t(i)]; t < meta.query_start()[size_t(i) + 1]; ++t)
        EXPECT_EQ(mg.slot_mapping[size_t(t)], cache.slot(id, g, meta.positions()[size_t(t)]));
    }
    EXPECT_EQ(mg.key_begin[0], g == 0 ? 0 : 100 - window + 1);
    EXPECT_EQ(mg.key_begin[1], 0);
  }

  // The "forward pass": write each new token's K/V through the slot mapping.
  for (int g = 0; g < 2; ++g) {
    const LayerGroupConfig& gc = cache.config().groups[size_t(g)];
    std::vector<float> k(static_cast<size_t>(gc.n_kv_heads * gc.k_head_dim)),
        v(static_cast<size_t>(gc.n_kv_heads * gc.v_head_dim));
    for (int i = 0; i < 3; ++i) {
      const std::vector<uint64_t> fp = testing::prefix_fingerprints(cache.tokens(batch[i].seq));
      for (int t = meta.query_start()[size_t(i)]; t < meta.query_start()[size_t(i) + 1]; ++t)
        for (int layer : gc.layers) {
          testing::kv_row(fp[size_t(meta.positions()[size_t(t)])], layer, 0, int(k.size()), k.data());
          testing::kv_row(fp[size_t(meta.positions()[size_t(t)])], layer, 1, int(v.size()), v.data());
          cache.write(layer, meta.group(g).slot_mapping[size_t(t)], k.data(), v.data());
        }
    }
  }
  // Attention through block tables equals attention over gathered K/V. It
  // runs inside the forward pass, before mark_computed lets a window group
  // release blocks that this step's earlier queries still see.
  for (int layer = 0; layer < 3; ++layer) {
    const LayerGroupConfig& gc = cache.config().groups[size_t(cache.group_of_layer(layer))];
    std::vector<float> q(static_cast<size_t>(gc.k_head_dim)), paged(static_cast<size_t>(gc.v_head_dim)),
        dense(static_cast<size_t>(gc.v_head_dim));
    for (int t = 0; t < meta.n_tokens(); ++t) {
      const int entry = meta.token_seq()[size_t(t)];
      for (int h = 0; h < gc.n_kv_heads; ++h) {
        query_row(t * 4 + h, layer, gc.k_head_dim, q.data());
        paged_attention(cache, meta, layer, t, h, q.data(), paged.data());
        dense_attention(cache, meta, layer, entry, batch[entry].seq, t, h, q.data(), dense.data());
        for (int i = 0; i < gc.v_head_dim; ++i)
          ASSERT_NEAR(paged[size_t(i)], dense[size_t(i)], 1e-5f) << "layer " << layer << " token " << t;
      }
    }
  }
  for (const BatchEntry& e : batch) cache.mark_computed(e.seq);
  cache.check_invariants();
}

INSTANTIATE_TEST_SUITE_P(Types, BatchMetadataTest, ::testing::Values(KvType::F16, KvType::Q8_0),
                         [](const auto& info) { return std::string(kv_type_name(info.param)); });

TEST(BatchMetadata, RejectsBadBatches) {
  KvCache cache(small_config(KvType::F16, 16, 0, 16, 0));
  const SeqId a = cache.create_sequence();
  append_computed(cache, a, tokens_from(40, 0));
  BatchMetadata meta(cache, 2, 8, 2);
  const BatchEntry twice[] = {{a, 1}, {a, 1}};
  EXPECT_THROW(meta.build(cache, twice), kiln::Error);
  const BatchEntry unknown[] = {{a, 1}, {9, 1}};
  EXPECT_THROW(meta.build(cache, unknown), kiln::Error);
  const BatchEntry too_many_new[] = {{a, 41}};
  EXPECT_THROW(meta.build(cache, too_many_new), kiln::Error);
  const BatchEntry too_many_tokens[] = {{a, 9}};
  EXPECT_THROW(meta.build(cache, too_many_tokens), kiln::Error);
  const BatchEntry too_long[] = {{a, 1}};  // 40 tokens = 3 blocks > 2
  EXPECT_THROW(meta.build(cache, too_long), kiln::Error);
  BatchMetadata roomy(cache, 2, 8, 4);
  roomy.build(cache, too_long);  // the failed builds left nothing behind
  EXPECT_EQ(roomy.n_tokens(), 1);
}

TEST(BatchMetadata, MasksAreCausalAndWindowed) {
  std::vector<float> row(8);
  fill_mask_row(row, 5, 2, 3);  // keys 2..9 from query 5, window 3: sees 3, 4, 5
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(row, (std::vector<float>{-inf, 0, 0, 0, -inf, -inf, -inf, -inf}));
  fill_mask_row(row, 5, 2, 0);
  EXPECT_EQ(row, (std::vector<float>{0, 0, 0, 0, -inf, -inf, -inf, -inf}));
}

TEST(BatchMetadata, SteadyStateDecodeAllocatesNothing) {
  KvCache cache(small_config(KvType::Q8_0, 16, 40, 512, 256));
  std::vector<SeqId> ids;
  for (int i = 0; i < 8; ++i) {
    ids.push_back(cache.create_sequence());
    cache.reserve(ids.back(), 512);
    append_computed(cache, ids.back(), tokens_from(60 + i, 100 * i));
  }
  BatchMetadata meta(cache, 8, 8, 32);
  std::vector<BatchEntry> batch;
  for (SeqId id : ids) batch.push_back({id, 1});
  const Token next[1] = {7};
  const auto decode_step = [&] {
    for (SeqId id : ids) cache.append(id, next);
    meta.build(cache, batch);
    for (SeqId id : ids) cache.mark_computed(id);
  };
  decode_step();  // warm-up
  {
    runtime::AllocCounter probe;
    const auto p = std::make_unique<int>(1);
    ASSERT_GT(probe.allocations(), 0u) << "the allocation counter is not counting";
  }
  runtime::AllocCounter counter;
  for (int step = 0; step < 200; ++step) decode_step();
  EXPECT_EQ(counter.allocations(), 0u) << "heap allocations in 200 decode steps of 8 sequences";
  EXPECT_EQ(cache.length(ids[0]), 261);
  cache.check_invariants();
}

}  // namespace
}  // namespace kiln::kv
