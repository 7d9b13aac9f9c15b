// Paged attention, flash-attention style on the CPU.
//
// Work unit: (batch entry, tile of up to kTile consecutive queries, kv head,
// a range of that kv head's query heads). A unit converts each visible K/V
// block of its kv head to f32 once and applies it to all of its query rows,
// keeping a running max, denominator and weighted sum per row (online
// softmax). When there are fewer units than threads (decode of one sequence)
// the query heads of a group are split across units instead.
#include "backend/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "backend/cpu/vec.h"
#include "core/error.h"
#include "core/quant/quant.h"
#include "kv/batch_metadata.h"
#include "kv/kv_cache.h"

namespace kiln::cpu {

namespace {

constexpr int kTile = 16;  // queries per work unit

float* frow(const backend::Tensor& t, int64_t r) {
  return reinterpret_cast<float*>(static_cast<uint8_t*>(t.data) + size_t(r) * t.stride);
}

// Converts n_tok consecutive token rows of one head (contiguous in a block)
// to f32.
void load_rows(kv::KvType type, const uint8_t* src, float* dst, int64_t n_tok, int hd) {
  if (type == kv::KvType::F16)
    f16_to_f32(reinterpret_cast<const uint16_t*>(src), dst, n_tok * hd);
  else
    dequantize_row(GgmlType::Q8_0, src, dst, n_tok * hd);
}

void write_kv(const backend::Tensor& k, const backend::Tensor& v, kv::KvCache& cache, const kv::BatchMetadata& meta,
              const backend::AttentionParams& p, runtime::ThreadPool& pool) {
  const int g = cache.group_of_layer(p.layer);
  const kv::BatchMetadata::Group grp = meta.group(g);
  const kv::BlockLayout& l = cache.layout(g);
  const int64_t bs = cache.block_size();
  const kv::KvType type = cache.config().type;
  const int hd = p.head_dim;
  auto write_token = [&](int64_t t, int) {
    const int64_t slot = grp.slot_mapping[size_t(t)];
    const kv::BlockId block = kv::BlockId(slot / bs);
    const size_t off = size_t(slot % bs);
    uint8_t* kd = cache.k_data(p.layer, block);
    uint8_t* vd = cache.v_data(p.layer, block);
    for (int h = 0; h < p.n_kv_heads; ++h) {
      const float* ks = frow(k, t) + size_t(h) * size_t(hd);
      const float* vs = frow(v, t) + size_t(h) * size_t(hd);
      uint8_t* kdst = kd + h * l.k_head_stride + off * l.k_row_bytes;
      uint8_t* vdst = vd + h * l.v_head_stride + off * l.v_row_bytes;
      if (type == kv::KvType::F16) {
        f32_to_f16(ks, reinterpret_cast<uint16_t*>(kdst), hd);
        f32_to_f16(vs, reinterpret_cast<uint16_t*>(vdst), hd);
      } else {
        quantize_row(GgmlType::Q8_0, ks, kdst, hd);
        quantize_row(GgmlType::Q8_0, vs, vdst, hd);
      }
    }
  };
  if (k.rows * k.cols < 8192) {
    for (int64_t t = 0; t < k.rows; ++t) write_token(t, 0);
  } else {
    pool.parallel_for(k.rows, write_token);
  }
}

struct Unit {
  int32_t entry, q0, q1;  // query tokens [q0, q1) of one batch entry
  int16_t kv_head, h0, h1;  // query heads [h0, h1) of the group (relative)
};

}  // namespace

void paged_attention(const backend::Tensor& q, const backend::Tensor& k, const backend::Tensor& v,
                     kv::KvCache& cache, const kv::BatchMetadata& meta, const backend::AttentionParams& p,
                     backend::Tensor& out, runtime::ThreadPool& pool, runtime::Arena& arena) {
  const int hd = p.head_dim;
  if (p.n_kv_heads <= 0 || p.n_heads % p.n_kv_heads != 0 || hd <= 0)
    throw kiln::Error("attention: " + std::to_string(p.n_heads) + " query heads cannot be grouped over " +
                      std::to_string(p.n_kv_heads) + " kv heads");
  if (q.rows != meta.n_tokens() || k.rows != q.rows || v.rows != q.rows || out.rows != q.rows ||
      q.cols != int64_t(p.n_heads) * hd || k.cols != int64_t(p.n_kv_heads) * hd || v.cols != k.cols ||
      out.cols != q.cols)
    throw kiln::Error("attention: q/k/v/out shapes do not match the batch (" + std::to_string(meta.n_tokens()) +
                      " tokens) and head layout");
  const int g = cache.group_of_layer(p.layer);
  const kv::LayerGroupConfig& gc = cache.config().groups[size_t(g)];
  if (gc.n_kv_heads != p.n_kv_heads || gc.k_head_dim != hd || gc.v_head_dim != hd)
    throw kiln::Error("attention: layer " + std::to_string(p.layer) + " has a KV cache group of " +
                      std::to_string(gc.n_kv_heads) + " heads of dim " + std::to_string(gc.k_head_dim) +
                      ", the model asks for " + std::to_string(p.n_kv_heads) + " of dim " + std::to_string(hd));

  write_kv(k, v, cache, meta, p, pool);

  const kv::BatchMetadata::Group grp = meta.group(g);
  const kv::BlockLayout& l = cache.layout(g);
  const int bs = cache.block_size();
  const kv::KvType type = cache.config().type;
  const int group_size = p.n_heads / p.n_kv_heads;
  const int nth = pool.size();

  // Work units: split heads of a group only when the units would not keep
  // every thread busy otherwise.
  int64_t n_tiles = 0;
  for (int e = 0; e < meta.n_seqs(); ++e) {
    const int32_t n = meta.query_start()[size_t(e) + 1] - meta.query_start()[size_t(e)];
    n_tiles += (n + kTile - 1) / kTile;
  }
  const int64_t base_units = n_tiles * p.n_kv_heads;
  const int head_split = base_units >= 2 * nth ? 1 : std::min<int>(group_size, int((2 * nth + base_units - 1) / base_units));
  const int heads_per_unit = (group_size + head_split - 1) / head_split;
  const int splits = (group_size + heads_per_unit - 1) / heads_per_unit;

  runtime::ArenaScope scope(arena);
  const std::span<Unit> units = arena.allocate_array<Unit>(size_t(base_units * splits));
  size_t u = 0;
  for (int e = 0; e < meta.n_seqs(); ++e)
    for (int32_t q0 = meta.query_start()[size_t(e)]; q0 < meta.query_start()[size_t(e) + 1]; q0 += kTile) {
      const int32_t q1 = std::min(q0 + kTile, meta.query_start()[size_t(e) + 1]);
      for (int h = 0; h < p.n_kv_heads; ++h)
        for (int s = 0; s < splits; ++s)
          units[u++] = {e, q0, q1, int16_t(h), int16_t(s * heads_per_unit),
                        int16_t(std::min(group_size, (s + 1) * heads_per_unit))};
    }

  // Per-thread memory: rows = queries x heads of a unit.
  const int max_rows = kTile * heads_per_unit;
  const size_t per_thread = size_t(2 * bs * hd + bs + max_rows * (hd + 2));
  const std::span<float> mem = arena.allocate_array<float>(per_thread * size_t(nth));

  const float neg_inf = -std::numeric_limits<float>::infinity();
  auto run_unit = [&](int64_t ui, int thread) {
    const Unit& un = units[size_t(ui)];
    float* kbuf = mem.data() + per_thread * size_t(thread);
    float* vbuf = kbuf + size_t(bs) * hd;
    float* sc = vbuf + size_t(bs) * hd;
    float* acc = sc + bs;
    float* mx = acc + size_t(max_rows) * hd;
    float* den = mx + max_rows;
    const int nh = un.h1 - un.h0;
    const int rows = (un.q1 - un.q0) * nh;
    std::fill(acc, acc + size_t(rows) * hd, 0.0f);
    std::fill(mx, mx + rows, neg_inf);
    std::fill(den, den + rows, 0.0f);

    const int32_t* table = grp.block_table.data() + size_t(un.entry) * size_t(grp.stride);
    const int64_t pos_lo = meta.positions()[size_t(un.q0)];
    const int64_t pos_hi = meta.positions()[size_t(un.q1 - 1)];
    const int64_t key_lo = grp.window > 0 ? std::max<int64_t>(0, pos_lo - grp.window + 1) : 0;
    for (int64_t b = key_lo / bs; b <= pos_hi / bs; ++b) {
      const int32_t block = table[b];
      const int64_t kb0 = std::max<int64_t>(b * bs, key_lo), kb1 = std::min<int64_t>((b + 1) * bs, pos_hi + 1);
      if (block < 0) throw kiln::Error("attention: a visible key lies in a released KV block");
      const int64_t off = kb0 - b * bs, n = kb1 - kb0;
      load_rows(type, cache.k_data(p.layer, kv::BlockId(block)) + un.kv_head * l.k_head_stride + off * l.k_row_bytes,
                kbuf, n, hd);
      load_rows(type, cache.v_data(p.layer, kv::BlockId(block)) + un.kv_head * l.v_head_stride + off * l.v_row_bytes,
                vbuf, n, hd);
      for (int32_t t = un.q0; t < un.q1; ++t) {
        const int64_t pos = meta.positions()[size_t(t)];
        const int64_t first = grp.window > 0 ? std::max<int64_t>(kb0, pos - grp.window + 1) : kb0;
        const int64_t last = std::min<int64_t>(kb1 - 1, pos);
        if (first > last) continue;
        for (int j = 0; j < nh; ++j) {
          const int head = un.kv_head * group_size + un.h0 + j;
          const float* qh = frow(q, t) + size_t(head) * hd;
          const int r = (t - un.q0) * nh + j;
          const int64_t n_keys = last - first + 1;
          for (int64_t kp = first; kp <= last; ++kp) sc[kp - first] = dot(qh, kbuf + size_t(kp - kb0) * hd, hd) * p.scale;
          if (p.softcap > 0) tanh_cap(sc, n_keys, p.softcap);
          float bmax = neg_inf;
          for (int64_t i = 0; i < n_keys; ++i) bmax = std::max(bmax, sc[i]);
          const float m_new = std::max(mx[r], bmax);
          const float rescale = std::exp(mx[r] - m_new);  // 0 on the first visible block
          float* a = acc + size_t(r) * hd;
          if (rescale != 1.0f)
            for (int d = 0; d < hd; ++d) a[d] *= rescale;
          const float sum = den[r] * rescale + exp_sub_sum(sc, n_keys, m_new);
          for (int64_t kp = first; kp <= last; ++kp) scale_add(a, 1.0f, sc[kp - first], vbuf + size_t(kp - kb0) * hd, hd);
          mx[r] = m_new;
          den[r] = sum;
        }
      }
    }
    for (int32_t t = un.q0; t < un.q1; ++t)
      for (int j = 0; j < nh; ++j) {
        const int r = (t - un.q0) * nh + j;
        const int head = un.kv_head * group_size + un.h0 + j;
        float* o = frow(out, t) + size_t(head) * hd;
        const float inv = 1.0f / den[r];
        const float* a = acc + size_t(r) * hd;
        for (int d = 0; d < hd; ++d) o[d] = a[d] * inv;
      }
  };
  pool.parallel_for(int64_t(u), run_unit);
}

}  // namespace kiln::cpu
