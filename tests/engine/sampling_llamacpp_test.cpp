// The sampler chain against llama.cpp itself: tools/gen_sampling_fixtures.py
// ran llama.cpp's samplers (penalties, top_k, typical, top_p, min_p, temp: the
// chain Ollama's runner builds) over random rows with a penalty history and
// recorded which tokens survive, with their final logits and probabilities.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/sampling.h"

namespace kiln::engine {
namespace {

using json = nlohmann::json;

const json& fixture() {
  static const json data = [] {
    std::ifstream in(std::string(KILN_FIXTURES) + "/engine/sampling_llamacpp.json");
    if (!in) throw std::runtime_error("missing tests/fixtures/engine/sampling_llamacpp.json");
    return json::parse(in);
  }();
  return data;
}

TEST(SamplingLlamaCpp, SameCandidatesAndProbabilities) {
  const json& cases = fixture().at("cases");
  ASSERT_GE(cases.size(), 50u);
  size_t multi = 0;
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const json& c = cases[ci];
    const json& pj = c.at("params");
    SamplingParams p;
    p.temperature = pj.at("temperature").get<float>();
    p.top_k = pj.at("top_k").get<int>();
    p.top_p = pj.at("top_p").get<float>();
    p.min_p = pj.at("min_p").get<float>();
    p.typical_p = pj.at("typical_p").get<float>();
    p.repeat_last_n = pj.at("repeat_last_n").get<int>();
    p.repeat_penalty = pj.at("repeat_penalty").get<float>();
    p.presence_penalty = pj.at("presence_penalty").get<float>();
    p.frequency_penalty = pj.at("frequency_penalty").get<float>();
    p.seed = 1;
    std::vector<float> logits;
    for (const auto& x : c.at("logits")) logits.push_back(static_cast<float>(x.get<double>()));
    Sampler s(c.at("vocab").get<int32_t>(), p);
    for (const auto& t : c.at("history")) s.accept(t.get<int32_t>());
    const int32_t chosen = s.choose(logits);

    std::map<int32_t, Candidate> got;
    for (const auto& cand : s.workspace().last_candidates()) got[cand.id] = cand;
    const json& expected = c.at("expected");
    const std::string where = "case " + std::to_string(ci) + " " + pj.dump();
    ASSERT_EQ(got.size(), expected.size()) << where;
    for (const auto& e : expected) {
      const int32_t id = e.at("id").get<int32_t>();
      ASSERT_TRUE(got.count(id)) << where << ": llama.cpp keeps token " << id;
      const float logit = static_cast<float>(e.at("logit").get<double>());
      EXPECT_NEAR(got[id].logit, logit, 1e-5f * std::max(1.f, std::fabs(logit))) << where << " token " << id;
      EXPECT_NEAR(got[id].p, e.at("p").get<double>(), 2e-6) << where << " token " << id;
    }
    EXPECT_TRUE(got.count(chosen)) << where;
    multi += expected.size() > 1;
  }
  EXPECT_GE(multi, 30u) << "most cases should leave a real choice";
}

}  // namespace
}  // namespace kiln::engine
