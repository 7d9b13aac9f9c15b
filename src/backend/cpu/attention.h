#pragma once
// Paged attention on the CPU: writes this step's K/V into their cache slots,
// then attends every query over the keys its sequence holds, reading K/V
// block by block through the block tables (grouped-query heads share each
// converted K/V block), in the order of llama.cpp's CPU path (see
// attention.cpp).
#include "backend/backend.h"
#include "core/arena.h"
#include "core/threadpool.h"

namespace kiln::cpu {

// Scores (floats) one thread keeps at most: 1 MiB.
inline constexpr int64_t kAttentionScoreFloats = int64_t(1) << 18;

// Same contract as Backend::attention. Per-thread working memory comes from
// `arena` (released when the call returns). score_floats bounds the scores a
// thread keeps (see attention.cpp; tests pass a small one to reach the path
// that recomputes scores).
void paged_attention(const backend::Tensor& q, const backend::Tensor& k, const backend::Tensor& v,
                     kv::KvCache& cache, const kv::BatchMetadata& meta, const backend::AttentionParams& p,
                     backend::Tensor& out, runtime::ThreadPool& pool, runtime::Arena& arena,
                     int64_t score_floats = kAttentionScoreFloats);

}  // namespace kiln::cpu
