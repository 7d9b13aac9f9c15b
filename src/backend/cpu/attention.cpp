// Paged attention on the CPU, in the order of llama.cpp's CPU path (flash
// attention off): all scores of a row, softmax (ggml's exponential, the sum
// in double), weights normalized before they meet V. kiln keeps the query and
// the weights in f32 where ggml rounds them to f16 for its f16 matmuls:
// without ggml's exact summation orders that rounding only adds noise (see
// docs/engine.md, "Correctness"), so it is left out.
//
// Work unit: (batch entry, tile of up to kTile consecutive queries, kv head,
// a range of that kv head's query heads). A unit converts each visible K/V
// block of its kv head to f32 once per pass and applies it to all of its
// query rows: pass 1 computes and keeps the scores of its rows, the softmax
// normalizes them, pass 2 sums V. A unit's scores fit score_floats (long
// contexts get smaller units); past that (a single row's span larger than
// the budget) pass 1 keeps only a running max and sum and pass 2 recomputes
// the scores. When there are fewer units than threads (decode of one
// sequence) the query heads of a group are split across units instead.
//
// A q8_0 cache stores K and V rows Hadamard-rotated (kv/kv_row_codec.h): a
// unit rotates its query rows the same way as K, computes scores and sums V
// in the rotated space and rotates its output rows back.
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
#include "kv/kv_row_codec.h"

namespace kiln::cpu {

namespace {

constexpr int kTile = 16;  // queries per work unit, at most

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

// Stores the batch's K/V rows; scratch holds head_dim floats per thread.
void write_kv(const backend::Tensor& k, const backend::Tensor& v, kv::KvCache& cache, const kv::BatchMetadata& meta,
              const backend::AttentionParams& p, runtime::ThreadPool& pool, std::span<float> scratch) {
  const int g = cache.group_of_layer(p.layer);
  const kv::BatchMetadata::Group grp = meta.group(g);
  const kv::BlockLayout& l = cache.layout(g);
  const int64_t bs = cache.block_size();
  const kv::KvType type = cache.config().type;
  const int hd = p.head_dim;
  auto write_token = [&](int64_t t, int thread) {
    float* tmp = scratch.data() + size_t(thread) * size_t(hd);
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
        kv::store_row(type, l.k_rotation, ks, kdst, hd, tmp);
        kv::store_row(type, l.v_rotation, vs, vdst, hd, tmp);
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
                     backend::Tensor& out, runtime::ThreadPool& pool, runtime::Arena& arena, int64_t score_floats) {
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

  const int nth = pool.size();
  runtime::ArenaScope scope(arena);
  write_kv(k, v, cache, meta, p, pool, arena.allocate_array<float>(size_t(hd) * size_t(nth)));

  const kv::BatchMetadata::Group grp = meta.group(g);
  const kv::BlockLayout& l = cache.layout(g);
  const int bs = cache.block_size();
  const kv::KvType type = cache.config().type;
  const int group_size = p.n_heads / p.n_kv_heads;

  // The widest key span of a query tile: how many scores a row may hold.
  int64_t max_span = 1;
  for (int e = 0; e < meta.n_seqs(); ++e) {
    const int32_t q0 = meta.query_start()[size_t(e)], q1 = meta.query_start()[size_t(e) + 1];
    if (q1 <= q0) continue;
    const int64_t lo = meta.positions()[size_t(q0)], hi = meta.positions()[size_t(q1 - 1)];
    const int64_t span = grp.window > 0 ? std::min<int64_t>(hi + 1, hi - lo + grp.window) : hi + 1;
    max_span = std::max(max_span, span);
  }
  // Rows (queries x heads) per unit: all their scores fit the budget.
  // A unit keeps every score of its rows, normalized before they meet V.
  const int64_t rows_cap = std::max<int64_t>(1, score_floats / max_span);
  const bool keep_scores = max_span <= score_floats;

  // Work units: split heads of a group only when the units would not keep
  // every thread busy otherwise, or when a unit's scores would not fit.
  int heads_per_unit = int(std::min<int64_t>(group_size, rows_cap));
  const int tile = int(std::clamp<int64_t>(rows_cap / heads_per_unit, 1, kTile));
  int64_t n_tiles = 0;
  for (int e = 0; e < meta.n_seqs(); ++e) {
    const int32_t n = meta.query_start()[size_t(e) + 1] - meta.query_start()[size_t(e)];
    n_tiles += (n + tile - 1) / tile;
  }
  const int64_t base_units = n_tiles * p.n_kv_heads * ((group_size + heads_per_unit - 1) / heads_per_unit);
  if (base_units < 2 * nth) {
    const int split = int(std::min<int64_t>(heads_per_unit, (2 * nth + base_units - 1) / base_units));
    heads_per_unit = (heads_per_unit + split - 1) / split;
  }
  const int splits = (group_size + heads_per_unit - 1) / heads_per_unit;

  const std::span<Unit> units = arena.allocate_array<Unit>(size_t(n_tiles * p.n_kv_heads * splits));
  size_t u = 0;
  for (int e = 0; e < meta.n_seqs(); ++e)
    for (int32_t q0 = meta.query_start()[size_t(e)]; q0 < meta.query_start()[size_t(e) + 1]; q0 += tile) {
      const int32_t q1 = std::min(q0 + tile, meta.query_start()[size_t(e) + 1]);
      for (int h = 0; h < p.n_kv_heads; ++h)
        for (int s = 0; s < splits; ++s)
          units[u++] = {e, q0, q1, int16_t(h), int16_t(s * heads_per_unit),
                        int16_t(std::min(group_size, (s + 1) * heads_per_unit))};
    }

  // Per-thread memory: K/V blocks, one block of scores, and per row its
  // accumulator, max, sum, (keep_scores) all scores and (rotated K) the
  // rotated query.
  const int max_rows = tile * heads_per_unit;
  const size_t kept = keep_scores ? size_t(max_rows) * size_t(max_span) : 0;
  const size_t rotated_q = l.k_rotation > 0 ? size_t(max_rows) * size_t(hd) : 0;
  const size_t per_thread = size_t(2 * bs * hd + bs) + size_t(max_rows) * size_t(hd + 1) + kept + rotated_q;
  const std::span<float> mem = arena.allocate_array<float>(per_thread * size_t(nth));
  const std::span<double> sums = arena.allocate_array<double>(size_t(max_rows) * size_t(nth));

  const float neg_inf = -std::numeric_limits<float>::infinity();
  auto run_unit = [&](int64_t ui, int thread) {
    const Unit& un = units[size_t(ui)];
    float* kbuf = mem.data() + per_thread * size_t(thread);
    float* vbuf = kbuf + size_t(bs) * hd;
    float* sc = vbuf + size_t(bs) * hd;
    float* acc = sc + bs;
    float* mx = acc + size_t(max_rows) * hd;
    double* den = sums.data() + size_t(max_rows) * size_t(thread);
    float* scores = mx + max_rows;
    float* qrot = scores + kept;
    const int nh = un.h1 - un.h0;
    const int rows = (un.q1 - un.q0) * nh;
    if (l.k_rotation > 0)
      for (int32_t t = un.q0; t < un.q1; ++t)
        for (int j = 0; j < nh; ++j) {
          const float* qr = frow(q, t) + size_t(un.kv_head * group_size + un.h0 + j) * hd;
          float* dst = qrot + size_t((t - un.q0) * nh + j) * hd;
          std::copy(qr, qr + hd, dst);
          kv::hadamard_rotate(dst, hd, l.k_rotation);
        }
    std::fill(acc, acc + size_t(rows) * hd, 0.0f);
    std::fill(mx, mx + rows, neg_inf);
    std::fill(den, den + rows, 0.0);

    const int32_t* table = grp.block_table.data() + size_t(un.entry) * size_t(grp.stride);
    const int64_t pos_lo = meta.positions()[size_t(un.q0)];
    const int64_t pos_hi = meta.positions()[size_t(un.q1 - 1)];
    const int64_t key_lo = grp.window > 0 ? std::max<int64_t>(0, pos_lo - grp.window + 1) : 0;
    const int64_t span = pos_hi - key_lo + 1;
    // Visible keys of query t within block keys [kb0, kb1).
    auto visible = [&](int32_t t, int64_t kb0, int64_t kb1) {
      const int64_t pos = meta.positions()[size_t(t)];
      const int64_t first = grp.window > 0 ? std::max<int64_t>(kb0, pos - grp.window + 1) : kb0;
      return std::pair<int64_t, int64_t>{first, std::min<int64_t>(kb1 - 1, pos)};
    };
    // Scaled (and capped) scores of query t, head j for keys [first, last] of
    // the K block.
    auto block_scores = [&](int32_t t, int j, int64_t kb0, int64_t first, int64_t last, float* out) {
      const float* qr = l.k_rotation > 0 ? qrot + size_t((t - un.q0) * nh + j) * hd
                                         : frow(q, t) + size_t(un.kv_head * group_size + un.h0 + j) * hd;
      for (int64_t kp = first; kp <= last; ++kp) out[kp - first] = dot(qr, kbuf + size_t(kp - kb0) * hd, hd) * p.scale;
      if (p.softcap > 0) tanh_cap(out, last - first + 1, p.softcap);
    };
    auto for_blocks = [&](bool values, auto&& fn) {
      for (int64_t b = key_lo / bs; b <= pos_hi / bs; ++b) {
        const int32_t block = table[b];
        if (block < 0) throw kiln::Error("attention: a visible key lies in a released KV block");
        const int64_t kb0 = std::max<int64_t>(b * bs, key_lo), kb1 = std::min<int64_t>((b + 1) * bs, pos_hi + 1);
        const int64_t off = kb0 - b * bs, n = kb1 - kb0;
        if (!values || !keep_scores)  // pass 2 needs K only to recompute scores
          load_rows(type, cache.k_data(p.layer, kv::BlockId(block)) + un.kv_head * l.k_head_stride + off * l.k_row_bytes,
                    kbuf, n, hd);
        if (values)
          load_rows(type, cache.v_data(p.layer, kv::BlockId(block)) + un.kv_head * l.v_head_stride + off * l.v_row_bytes,
                    vbuf, n, hd);
        fn(kb0, kb1);
      }
    };

    // Pass 1: scores, and per row the max and the sum of e^(s - max), as
    // ggml's soft_max does; then the weights are normalized.
    for_blocks(false, [&](int64_t kb0, int64_t kb1) {
      for (int32_t t = un.q0; t < un.q1; ++t) {
        const auto [first, last] = visible(t, kb0, kb1);
        if (first > last) continue;
        for (int j = 0; j < nh; ++j) {
          const int r = (t - un.q0) * nh + j;
          float* out = keep_scores ? scores + size_t(r) * size_t(span) + size_t(first - key_lo) : sc;
          block_scores(t, j, kb0, first, last, out);
          if (keep_scores) continue;
          // Scores too many to keep: an online max and sum, recomputed below.
          float bmax = neg_inf;
          for (int64_t i = 0; i <= last - first; ++i) bmax = std::max(bmax, out[i]);
          const float m_new = std::max(mx[r], bmax);
          den[r] = den[r] * double(std::exp(mx[r] - m_new)) + exp_sub_sum(out, last - first + 1, m_new);
          mx[r] = m_new;
        }
      }
    });
    if (keep_scores)
      for (int32_t t = un.q0; t < un.q1; ++t) {
        const auto [first, last] = visible(t, key_lo, pos_hi + 1);
        for (int j = 0; j < nh; ++j) {
          const int r = (t - un.q0) * nh + j;
          float* s = scores + size_t(r) * size_t(span) + size_t(first - key_lo);
          const int64_t n = last - first + 1;
          float m = neg_inf;
          for (int64_t i = 0; i < n; ++i) m = std::max(m, s[i]);
          const float inv = float(1.0 / exp_sub_sum(s, n, m));
          for (int64_t i = 0; i < n; ++i) s[i] *= inv;
        }
      }
    // Pass 2: out = sum of weights times V.
    for_blocks(true, [&](int64_t kb0, int64_t kb1) {
      for (int32_t t = un.q0; t < un.q1; ++t) {
        const auto [first, last] = visible(t, kb0, kb1);
        if (first > last) continue;
        for (int j = 0; j < nh; ++j) {
          const int r = (t - un.q0) * nh + j;
          const float* w = sc;
          if (keep_scores) {
            w = scores + size_t(r) * size_t(span) + size_t(first - key_lo);
          } else {
            block_scores(t, j, kb0, first, last, sc);
            exp_sub_sum(sc, last - first + 1, mx[r]);
            const float inv = float(1.0 / den[r]);
            for (int64_t i = 0; i <= last - first; ++i) sc[i] *= inv;
          }
          float* a = acc + size_t(r) * hd;
          for (int64_t kp = first; kp <= last; ++kp) scale_add(a, 1.0f, w[kp - first], vbuf + size_t(kp - kb0) * hd, hd);
        }
      }
    });
    for (int32_t t = un.q0; t < un.q1; ++t)
      for (int j = 0; j < nh; ++j) {
        const int r = (t - un.q0) * nh + j;
        float* a = acc + size_t(r) * hd;
        kv::hadamard_rotate(a, hd, l.v_rotation);  // back from V's rotated space
        std::copy(a, a + hd, frow(out, t) + size_t(un.kv_head * group_size + un.h0 + j) * hd);
      }
  };
  pool.parallel_for(int64_t(u), run_unit);
}

}  // namespace kiln::cpu
