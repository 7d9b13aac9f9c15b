// kiln's logits against llama.cpp's on the real test models (fixtures made by
// tools/gen_reference_logits.py from llama-cpp-python on the same GGUF files):
// teacher-forced over the fixture text, mean KL(llama.cpp || kiln) over
// llama.cpp's top-k support <= 0.005 and top-1 agreement >= 99%; and greedy
// continuations of short prompts equal llama.cpp's up to the first near-tie.
//
// The thresholds are the (top-1 >= 99%, KL <= 0.005) unless llama.cpp
// itself misses them: the same llama.cpp build with flash attention on instead
// of off (tests/models/llamacpp_self_agreement.py STEM 1024 1) agrees with these
// fixtures on only 96.2% (gemma3) / 98.3% (qwen2) of positions, with mean KL
// 0.00601 / 0.00098, because both texts have many near-ties (3% of positions
// within 0.05 nats). So top-1 is asserted on decisive positions (llama.cpp's
// top-2 gap >= 0.1 nats), where llama.cpp agrees with itself on 98.65% (gemma3)
// / 99.52% (qwen2); kiln must do as well as that, minus one point, or reach
// 99%, and keep KL within 20% of llama.cpp's own or under 0.005.
//
// Why not closer (docs/engine.md, "Correctness"): kiln rounds where llama.cpp
// rounds (ggml's activation scales, f16 KV cache, ggml's exponential), and op
// by op its results then equal llama.cpp's to f32 rounding (1e-7). But the
// two engines add in different orders, and every int8 or f16 re-rounding
// downstream turns such a 1e-7 difference, now and then, into a flipped step
// (1e-3 of a matmul output), which the next layers amplify: after a few
// layers the two runs are as far apart as two different roundings. llama.cpp itself shows it: decoding the text token by
// token instead of in one batch moves its own logits as much. Only a bit-exact
// copy of ggml's summation orders would get closer; kiln's KL moves by +-10%
// (gemma3 0.0061..0.0068) with any f32-level change, hence the 20% margin
// (the same holds against HF: gemma3 0.0052..0.0054).
// Against HF transformers (tools/gen_hf_reference.py) kiln must be as close as
// llama.cpp is: top-1 within one point of llama.cpp's, KL within 20% (or 0.005).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "harness.h"

namespace kiln::models::test {
namespace {

constexpr double kDecisive = 0.1;  // nats

struct Fixture {
  nlohmann::json j;
  std::filesystem::path model;
};

// Loads the fixture of a model, or explains why the test cannot run.
// engine: "llamacpp" or "hf" (tools/gen_reference_logits.py, gen_hf_reference.py).
std::optional<Fixture> load(const std::string& stem, std::string& why, const std::string& engine = "llamacpp") {
  const std::filesystem::path fx = std::filesystem::path(KILN_FIXTURES) / "reference" / (stem + "." + engine + ".json");
  const std::filesystem::path model = model_dir() / (stem + ".gguf");
  if (!std::filesystem::exists(model)) {
    why = "model " + model.string() + " is absent";
    return std::nullopt;
  }
  if (!std::filesystem::exists(fx)) {
    why = "fixture " + fx.string() + " is absent";
    return std::nullopt;
  }
  std::ifstream in(fx);
  Fixture f{nlohmann::json::parse(in), model};
  return f;
}

// log-softmax of one row, in double.
std::vector<double> log_softmax(std::span<const float> l) {
  double mx = -INFINITY;
  for (float v : l) mx = std::max(mx, double(v));
  double s = 0;
  for (float v : l) s += std::exp(double(v) - mx);
  const double lse = mx + std::log(s);
  std::vector<double> out(l.size());
  for (size_t i = 0; i < l.size(); ++i) out[i] = double(l[i]) - lse;
  return out;
}

// llama.cpp against itself (flash attention on vs the fixture's off), from
// tests/models/llamacpp_self_agreement.py.
struct SelfAgreement {
  double decisive_top1;
  double kl;
};

struct Agreement {
  size_t positions = 0;
  double top1 = 0, top1_decisive = 0, kl = 0;  // kl: mean KL(reference || kiln) on the reference's top-k
};

// Teacher-forces kiln over a reference fixture's tokens and compares each
// position's distribution with the reference's top-k.
Agreement measure(const Fixture& f, const std::string& label) {
  const nlohmann::json& j = f.j;
  const std::vector<int32_t> tokens = j["tokens"].get<std::vector<int32_t>>();
  Harness h(f.model, 1024, 64);
  EXPECT_EQ(h.vocab(), j["model"]["n_vocab"].get<int64_t>());
  const kv::SeqId seq = h.cache->create_sequence();
  const nlohmann::json& positions = j["positions"];
  EXPECT_EQ(positions.size(), tokens.size());
  int64_t agree = 0, decisive = 0, decisive_agree = 0;
  double kl_sum = 0, kl_max = 0;
  int64_t worst = -1;
  std::vector<double> bin_kl((tokens.size() + 127) / 128);  // where disagreement sits (e.g. past the window)
  h.evaluate(seq, tokens, 64, [&](int64_t p, std::span<const float> logits) {
    const std::vector<double> lq = log_softmax(logits);
    const nlohmann::json& pos = positions[size_t(p)];
    const std::vector<int32_t> ids = pos["ids"].get<std::vector<int32_t>>();
    const std::vector<double> lp = pos["lp"].get<std::vector<double>>();
    const bool same = Harness::argmax(logits) == ids[0];
    agree += same;
    if (lp[0] - lp[1] >= kDecisive) decisive++, decisive_agree += same;
    double kl = 0;
    for (size_t i = 0; i < ids.size(); ++i) kl += std::exp(lp[i]) * (lp[i] - lq[size_t(ids[i])]);
    kl_sum += kl;
    bin_kl[size_t(p) / 128] += kl / 128;
    if (kl > kl_max) kl_max = kl, worst = p;
  });
  Agreement a;
  a.positions = tokens.size();
  a.top1 = double(agree) / double(tokens.size());
  a.kl = kl_sum / double(tokens.size());
  a.top1_decisive = double(decisive_agree) / double(decisive);
  std::printf("%s: %zu positions, top-1 agreement %.4f (%.4f on %lld decisive), mean KL %.6f, max KL %.5f at %lld\n",
              label.c_str(), tokens.size(), a.top1, a.top1_decisive, (long long)decisive, a.kl, kl_max, (long long)worst);
  for (size_t b = 0; b < bin_kl.size(); ++b) std::printf("  positions %4zu..: mean KL %.6f\n", b * 128, bin_kl[b]);
  return a;
}

void teacher_forced(const std::string& stem, SelfAgreement llama) {
  std::string why;
  std::optional<Fixture> f = load(stem, why);
  if (!f) GTEST_SKIP() << why;
  const Agreement a = measure(*f, stem + " vs llama.cpp");
  EXPECT_GE(a.positions, 512u);
  EXPECT_GE(a.top1_decisive, std::min(0.99, llama.decisive_top1 - 0.01));
  EXPECT_LE(a.kl, std::max(0.005, 1.2 * llama.kl));
}

// The second yardstick: kiln must agree with HF transformers (GGUF
// weights dequantized to f32) as closely as llama.cpp does. llama.cpp's own
// agreement with HF comes from the same fixtures (agreement.json, made by
// tools/gen_hf_reference.py): top-1 over all positions and mean KL(HF ||
// llama.cpp) on HF's top-32 support, the measure computed here for kiln.
void against_hf(const std::string& stem) {
  std::string why;
  std::optional<Fixture> f = load(stem, why, "hf");
  if (!f) GTEST_SKIP() << why;
  std::ifstream in(std::filesystem::path(KILN_FIXTURES) / "reference" / "agreement.json");
  const nlohmann::json llama = nlohmann::json::parse(in)["models"][stem + ".gguf"];
  const double llama_top1 = llama["top1"].get<double>(), llama_kl = llama["kl_top32_hf_llamacpp"].get<double>();
  const Agreement a = measure(*f, stem + " vs HF");
  std::printf("llama.cpp vs HF on the same text: top-1 %.4f, mean KL %.6f\n", llama_top1, llama_kl);
  EXPECT_GE(a.positions, 512u);
  EXPECT_GE(a.top1, llama_top1 - 0.01);
  EXPECT_LE(a.kl, std::max(0.005, 1.2 * llama_kl));
}

void greedy(const std::string& stem) {
  std::string why;
  std::optional<Fixture> f = load(stem, why);
  if (!f) GTEST_SKIP() << why;
  Harness h(f->model, 256, 64);
  for (const nlohmann::json& g : f->j["greedy"]) {
    const std::vector<int32_t> prompt = g["prompt_tokens"].get<std::vector<int32_t>>();
    const std::vector<int32_t> want = g["tokens"].get<std::vector<int32_t>>();
    const std::vector<double> margin = g["margin"].get<std::vector<double>>();
    const kv::SeqId seq = h.cache->create_sequence();
    const std::pair<kv::SeqId, std::vector<int32_t>> first{seq, prompt};
    std::span<const float> logits = h.step(std::span(&first, 1), false);
    // Compare up to llama.cpp's first near-tie (a choice it made by less
    // than kDecisive can flip with any rounding difference; after it the
    // texts may diverge legitimately).
    for (size_t i = 0; i < want.size() && margin[i] >= kDecisive; ++i) {
      const int32_t got = Harness::argmax(logits);
      ASSERT_EQ(got, want[i]) << "greedy step " << i << " of \"" << g["prompt"].get<std::string>() << "\"";
      if (i + 1 == want.size()) break;
      const std::pair<kv::SeqId, std::vector<int32_t>> next{seq, {got}};
      logits = h.step(std::span(&next, 1), false);
    }
    h.cache->free_sequence(seq);
  }
}

TEST(Reference, GemmaTeacherForced) { teacher_forced("gemma-3-270m-q4_k_m", {0.9865, 0.00601}); }
TEST(Reference, QwenTeacherForced) { teacher_forced("qwen-0.5b", {0.9952, 0.00098}); }
TEST(Reference, GemmaAgainstHF) { against_hf("gemma-3-270m-q4_k_m"); }
TEST(Reference, QwenAgainstHF) { against_hf("qwen-0.5b"); }
TEST(Reference, GemmaGreedy) { greedy("gemma-3-270m-q4_k_m"); }
TEST(Reference, QwenGreedy) { greedy("qwen-0.5b"); }

}  // namespace
}  // namespace kiln::models::test
