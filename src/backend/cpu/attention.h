#pragma once
// Paged attention on the CPU: writes this step's K/V into their cache slots,
// then attends every query over the keys its sequence holds, reading K/V
// block by block through the block tables (online softmax, so memory does not
// grow with the context; grouped-query heads share each converted K/V block).
#include "backend/backend.h"
#include "core/arena.h"
#include "core/threadpool.h"

namespace kiln::cpu {

// Same contract as Backend::attention. Per-thread working memory comes from
// `arena` (released when the call returns).
void paged_attention(const backend::Tensor& q, const backend::Tensor& k, const backend::Tensor& v,
                     kv::KvCache& cache, const kv::BatchMetadata& meta, const backend::AttentionParams& p,
                     backend::Tensor& out, runtime::ThreadPool& pool, runtime::Arena& arena);

}  // namespace kiln::cpu
