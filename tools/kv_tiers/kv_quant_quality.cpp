// Quality of a quantized KV cache: teacher-forced next-token distributions
// of the same model with an f16 cache and with a q8_0 cache over one text,
// compared position by position: mean and max KL(f16 || q8_0) in nats and
// how often the top-1 token agrees.
//
//   kv_quant_quality MODEL TEXT_FILE [--threads T] [--repeat R]
//
// Both engines advance chunk by chunk in lockstep, so only one chunk of
// logits is held at a time. --repeat R feeds the text R times back to back
// (longer contexts, where quantization error in K/V accumulates over more keys).
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace {

void log_softmax(std::span<const float> logits, std::vector<double>& out) {
  out.resize(logits.size());
  double mx = -INFINITY;
  for (float x : logits) mx = std::max(mx, double(x));
  double sum = 0;
  for (float x : logits) sum += std::exp(double(x) - mx);
  const double lse = mx + std::log(sum);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = double(logits[i]) - lse;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL TEXT_FILE [--threads T] [--repeat R]\n", argv[0]);
    return 2;
  }
  int threads = 2, repeat = 1;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::stoi(argv[i + 1]);
    if (a == "--repeat") repeat = std::stoi(argv[i + 1]);
  }
  try {
    std::ifstream in(argv[2]);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text;
    for (int r = 0; r < repeat; ++r) text += ss.str();
    constexpr int kChunk = 64;
    auto make = [&](kiln::kv::KvType type) {
      kiln::engine::EngineConfig ec;
      ec.threads = threads;
      ec.kv_type = type;
      ec.max_logit_rows = kChunk;
      ec.context = 16384;
      return std::make_unique<kiln::engine::Engine>(argv[1], ec);
    };
    auto ref = make(kiln::kv::KvType::F16);
    auto quant = make(kiln::kv::KvType::Q8_0);
    std::vector<int32_t> tokens = ref->tokenizer().encode(text, true, false);
    if (int64_t(tokens.size()) > ref->config().context) tokens.resize(size_t(ref->config().context));
    const kiln::kv::SeqId sr = ref->new_sequence(), sq = quant->new_sequence();
    std::vector<std::vector<double>> ref_rows(kChunk);
    std::vector<double> q_row;
    double kl_sum = 0, kl_max = 0;
    int64_t agree = 0, n = 0;
    for (size_t done = 0; done < tokens.size(); done += kChunk) {
      const std::span<const int32_t> chunk =
          std::span<const int32_t>(tokens).subspan(done, std::min<size_t>(kChunk, tokens.size() - done));
      ref->evaluate(sr, chunk, [&](int64_t i, std::span<const float> logits) { log_softmax(logits, ref_rows[size_t(i)]); });
      quant->evaluate(sq, chunk, [&](int64_t i, std::span<const float> logits) {
        log_softmax(logits, q_row);
        const std::vector<double>& p = ref_rows[size_t(i)];
        double kl = 0;
        size_t top_p = 0, top_q = 0;
        for (size_t v = 0; v < p.size(); ++v) {
          kl += std::exp(p[v]) * (p[v] - q_row[v]);
          if (p[v] > p[top_p]) top_p = v;
          if (q_row[v] > q_row[top_q]) top_q = v;
        }
        if (kl > 0.5 && std::getenv("KILN_KL_VERBOSE"))
          std::printf("  position %lld: KL %.3f, top-1 f16 %zu q8_0 %zu\n", (long long)(done + size_t(i)), kl, top_p,
                      top_q);
        kl_sum += kl;
        kl_max = std::max(kl_max, kl);
        agree += top_p == top_q;
        ++n;
      });
    }
    std::printf("%s: %lld positions, KL(f16 || q8_0) mean %.6f max %.6f nats, top-1 agreement %.2f%%\n", argv[1],
                (long long)n, kl_sum / double(n), kl_max, 100.0 * double(agree) / double(n));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
