// bench_cuda_model MODEL.gguf [--backend cuda] [--check cpu] [-p 512] [-n 128] [-r 3] [--check-tokens 48]
// bench_cuda_model --synth PRESET:TYPE[:LAYERS] -o FILE.gguf
//
//   --synth     writes a random-weight model of a real shape, as `kiln synth`
//               does (same library code), so a GPU machine needs only this
//               program and the tests.
// Whole-model speed and correctness of a backend (the CUDA one, mainly):
//   --check B   teacher-forced agreement with backend B on the same model: both
//               evaluate the same random tokens; prints top-1 agreement and the
//               mean KL(B || tested) of the next-token distributions, and exits
//               1 when top-1 < 99% or KL > 0.005 (issue 5's bar).
//   ppP         P random tokens prefilled in one step (batch = P); P / time.
//   tgN         N decode steps after a one-token prompt; N / time.
// Each test runs once untimed (warm-up), then r timed repetitions; prints a
// markdown table and one JSON line per test (for scripts). Same method as
// `kiln bench`, which has no backend flag yet.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "gguf/presets.h"
#include "gguf/quant_mix.h"
#include "gguf/synthetic.h"
#include "kv/kv_cache.h"

namespace {

using kiln::engine::Engine;
using kiln::engine::EngineConfig;

struct Args {
  std::string model, backend = "cuda", check, synth, output;
  int pp = 512, tg = 128, reps = 3, check_tokens = 48;
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<int32_t> random_tokens(const Engine& e, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  // Skip the first ids (control tokens in most vocabularies).
  const int32_t lo = std::min<int32_t>(1000, int32_t(e.n_vocab() / 2));
  std::uniform_int_distribution<int32_t> pick(lo, int32_t(e.n_vocab() - 1));
  std::vector<int32_t> out(n);
  for (int32_t& t : out) t = pick(rng);
  return out;
}

EngineConfig config_for(const std::string& backend, const Args& a, int logit_rows) {
  EngineConfig c;
  c.backend = backend;
  c.context = std::max(a.pp, a.check_tokens) + a.tg + 64;
  c.batch = std::max({a.pp, a.check_tokens, 32});
  c.max_logit_rows = logit_rows;
  return c;
}

// Logits of every position of `tokens`, teacher-forced, [n][vocab].
std::vector<float> all_logits(Engine& e, const std::vector<int32_t>& tokens) {
  std::vector<float> out(tokens.size() * size_t(e.n_vocab()));
  const kiln::kv::SeqId s = e.new_sequence();
  e.evaluate(s, tokens, [&](int64_t i, std::span<const float> l) {
    std::copy(l.begin(), l.end(), out.begin() + i * e.n_vocab());
  });
  e.free_sequence(s);
  return out;
}

// The same logits one token at a time (decode steps after a one-token
// prompt): the path generation takes, with its own kernels (mat-vec, split
// attention).
std::vector<float> decoded_logits(Engine& e, const std::vector<int32_t>& tokens) {
  std::vector<float> out(tokens.size() * size_t(e.n_vocab()));
  const kiln::kv::SeqId s = e.new_sequence();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::span<const float> l =
        i == 0 ? e.prefill(s, std::span<const int32_t>(tokens.data(), 1)) : e.decode(s, tokens[i]);
    std::copy(l.begin(), l.end(), out.begin() + int64_t(i) * e.n_vocab());
  }
  e.free_sequence(s);
  return out;
}

bool compare(const Args& a, const char* how, const std::vector<int32_t>& tokens, int64_t vocab,
             const std::vector<float>& ref, const std::vector<float>& got) {
  int agree = 0;
  double kl_sum = 0, kl_max = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const float* r = ref.data() + i * size_t(vocab);
    const float* g = got.data() + i * size_t(vocab);
    agree += std::max_element(r, r + vocab) - r == std::max_element(g, g + vocab) - g;
    const double mr = *std::max_element(r, r + vocab), mg = *std::max_element(g, g + vocab);
    double zr = 0, zg = 0;
    for (int64_t j = 0; j < vocab; ++j) zr += std::exp(double(r[j]) - mr), zg += std::exp(double(g[j]) - mg);
    double kl = 0;
    for (int64_t j = 0; j < vocab; ++j) {
      const double lr = double(r[j]) - mr - std::log(zr), lg = double(g[j]) - mg - std::log(zg);
      kl += std::exp(lr) * (lr - lg);
    }
    kl_sum += kl;
    kl_max = std::max(kl_max, kl);
  }
  const double top1 = double(agree) / double(tokens.size()), kl = kl_sum / double(tokens.size());
  const bool ok = top1 >= 0.99 && kl <= 0.005;
  std::printf("check %s (%s) vs %s on %s: %zu positions, top-1 %.2f%%, mean KL %.6f, max KL %.6f: %s\n",
              a.backend.c_str(), how, a.check.c_str(), a.model.c_str(), tokens.size(), 100 * top1, kl, kl_max,
              ok ? "PASS" : "FAIL");
  std::printf("{\"check\":\"%s\",\"path\":\"%s\",\"reference\":\"%s\",\"model\":\"%s\",\"positions\":%zu,\"top1\":%.4f,\"kl\":%.6g,\"kl_max\":%.6g,\"pass\":%s}\n",
              a.backend.c_str(), how, a.check.c_str(), a.model.c_str(), tokens.size(), top1, kl, kl_max,
              ok ? "true" : "false");
  return ok;
}

int check(const Args& a) {
  std::vector<float> ref, batched, decoded;
  std::vector<int32_t> tokens;
  int64_t vocab = 0;
  {
    Engine e(a.model, config_for(a.check, a, a.check_tokens));
    tokens = random_tokens(e, size_t(a.check_tokens), 7);
    vocab = e.n_vocab();
    ref = all_logits(e, tokens);
  }
  {
    Engine e(a.model, config_for(a.backend, a, a.check_tokens));
    batched = all_logits(e, tokens);
    decoded = decoded_logits(e, tokens);
  }
  const bool ok1 = compare(a, "prefill", tokens, vocab, ref, batched);
  const bool ok2 = compare(a, "decode", tokens, vocab, ref, decoded);
  return ok1 && ok2 ? 0 : 1;
}

void speed(const Args& a) {
  Engine e(a.model, config_for(a.backend, a, 1));
  auto report = [&](const char* test, int n, std::vector<double> secs) {
    double mean = 0, sd = 0;
    std::vector<double> ts;
    for (double s : secs) ts.push_back(n / s);
    for (double t : ts) mean += t;
    mean /= double(ts.size());
    for (double t : ts) sd += (t - mean) * (t - mean);
    sd = ts.size() > 1 ? std::sqrt(sd / double(ts.size() - 1)) : 0;
    std::printf("| %s | %s | %s%d | %.2f ± %.2f |\n", a.model.c_str(), a.backend.c_str(), test, n, mean, sd);
    std::printf("{\"model\":\"%s\",\"backend\":\"%s\",\"test\":\"%s%d\",\"avg_ts\":%.3f,\"stddev_ts\":%.3f}\n",
                a.model.c_str(), a.backend.c_str(), test, n, mean, sd);
  };
  if (a.pp > 0) {
    std::vector<double> secs;
    for (int r = 0; r <= a.reps; ++r) {
      const std::vector<int32_t> toks = random_tokens(e, size_t(a.pp), 100 + r);
      const kiln::kv::SeqId s = e.new_sequence();
      const double t0 = now_s();
      e.prefill(s, toks);
      const double t = now_s() - t0;
      e.free_sequence(s);
      if (r > 0) secs.push_back(t);
    }
    report("pp", a.pp, secs);
  }
  if (a.tg > 0) {
    std::vector<double> secs;
    for (int r = 0; r <= a.reps; ++r) {
      const std::vector<int32_t> toks = random_tokens(e, size_t(a.tg) + 1, 200 + r);
      const kiln::kv::SeqId s = e.new_sequence();
      e.prefill(s, std::span<const int32_t>(toks.data(), 1));
      const double t0 = now_s();
      for (int i = 0; i < a.tg; ++i) e.decode(s, toks[size_t(i) + 1]);
      const double t = now_s() - t0;
      e.free_sequence(s);
      if (r > 0) secs.push_back(t);
    }
    report("tg", a.tg, secs);
  }
}

// "qwen2.5-0.5b:q4_K_M:2" -> a 2-layer qwen2.5-0.5b-shaped Q4_K_M file.
void write_synth(const Args& a) {
  const size_t c1 = a.synth.find(':');
  if (c1 == std::string::npos || a.output.empty()) throw std::runtime_error("--synth PRESET:TYPE[:LAYERS] needs -o FILE");
  const size_t c2 = a.synth.find(':', c1 + 1);
  const std::string preset = a.synth.substr(0, c1);
  const std::string type = a.synth.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1);
  const int64_t layers = c2 == std::string::npos ? 0 : std::atoll(a.synth.c_str() + c2 + 1);
  const auto ft = kiln::gguf::parse_file_type(type);
  if (!ft) throw std::runtime_error("unknown file type '" + type + "'");
  const double t0 = now_s();
  kiln::gguf::write_synthetic(kiln::gguf::plan_synthetic(kiln::gguf::preset_or_throw(preset), *ft, layers), a.output, 0);
  std::printf("wrote %s (%s) in %.1f s\n", a.output.c_str(), a.synth.c_str(), now_s() - t0);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", f.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (f == "--backend") a.backend = next();
    else if (f == "--check") a.check = next();
    else if (f == "-p") a.pp = std::atoi(next().c_str());
    else if (f == "-n") a.tg = std::atoi(next().c_str());
    else if (f == "-r") a.reps = std::max(1, std::atoi(next().c_str()));
    else if (f == "--synth") a.synth = next();
    else if (f == "-o") a.output = next();
    else if (f == "--check-tokens") a.check_tokens = std::max(1, std::atoi(next().c_str()));
    else if (!f.empty() && f[0] != '-' && a.model.empty()) a.model = f;
    else {
      std::fprintf(stderr, "usage: bench_cuda_model MODEL.gguf [--backend cuda] [--check cpu] [-p 512] [-n 128] [-r 3] [--check-tokens 48]\n");
      return 2;
    }
  }
  try {
    if (!a.synth.empty()) {
      write_synth(a);
      return 0;
    }
    if (a.model.empty()) {
      std::fprintf(stderr, "bench_cuda_model: no model file given\n");
      return 2;
    }
    if (!a.check.empty()) return check(a);
    speed(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_model: %s\n", e.what());
    return 1;
  }
  return 0;
}
