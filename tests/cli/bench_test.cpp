// `kiln bench` through the binary: JSON and table output on the real Gemma
// file (tiny p/n so it runs in a second or two), comma-separated test lists,
// and argument errors.
#include <gtest/gtest.h>

#include "cli/cli_helpers.h"

namespace kiln::cli_test {
namespace {

fs::path gemma_path() {
  const char* dir = std::getenv("KILN_TEST_MODELS");
  const char* home = std::getenv("HOME");
  return (dir ? fs::path(dir) : fs::path(home ? home : "/root") / ".cache/kiln/models") / "gemma-3-270m-q4_k_m.gguf";
}

#define REQUIRE_GEMMA() \
  if (!fs::exists(gemma_path())) GTEST_SKIP() << gemma_path() << " is absent"

TEST(Bench, JsonHasOneObjectPerTestWithLlamaBenchFields) {
  REQUIRE_GEMMA();
  StoreDir dir("bench-json");
  const RunResult r = dir.kiln({"bench", gemma_path().string(), "-p", "8", "-n", "4", "-r", "1", "-t", "2", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["test"], "pp8");
  EXPECT_EQ(j[0]["n_prompt"], 8);
  EXPECT_EQ(j[0]["n_gen"], 0);
  EXPECT_EQ(j[1]["test"], "tg4");
  EXPECT_EQ(j[1]["n_prompt"], 0);
  EXPECT_EQ(j[1]["n_gen"], 4);
  for (const auto& t : j) {
    for (const char* key : {"model_filename", "model_type", "model_size", "model_n_params", "backends", "n_threads",
                            "type_k", "type_v", "n_batch", "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts",
                            "samples_ns", "samples_ts"})
      EXPECT_TRUE(t.contains(key)) << key;
    EXPECT_EQ(t["n_threads"], 2);
    EXPECT_EQ(t["type_k"], "f16");
    EXPECT_EQ(t["model_type"].get<std::string>().rfind("gemma3 ", 0), 0u) << t["model_type"];
    ASSERT_EQ(t["samples_ns"].size(), 1u);
    EXPECT_GT(t["avg_ts"].get<double>(), 0.0);
    EXPECT_EQ(t["stddev_ts"].get<double>(), 0.0);  // one sample
    // tokens/s is the tokens over the sample's time.
    const double tokens = t["n_prompt"].get<double>() + t["n_gen"].get<double>();
    EXPECT_NEAR(t["samples_ts"][0].get<double>(), tokens * 1e9 / t["samples_ns"][0].get<double>(), 1e-6);
  }
}

TEST(Bench, TableListsEveryCombination) {
  REQUIRE_GEMMA();
  StoreDir dir("bench-table");
  const RunResult r =
      dir.kiln({"bench", gemma_path().string(), "-p", "4,8", "-n", "0", "-r", "2", "--kv-type", "q8_0", "-t", "1,2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u + 4u) << r.out;  // header, separator, 2 threads x 2 tests
  EXPECT_NE(lines[0].find("| model"), std::string::npos);
  for (const char* col : {"size", "params", "backend", "threads", "test", "t/s"})
    EXPECT_NE(lines[0].find(col), std::string::npos) << col;
  EXPECT_NE(lines[1].find("---:"), std::string::npos);
  EXPECT_NE(lines[2].find("pp4"), std::string::npos);
  EXPECT_NE(lines[3].find("pp8"), std::string::npos);
  EXPECT_NE(lines[5].find("pp8"), std::string::npos);
  EXPECT_NE(lines[2].find("\u00b1"), std::string::npos);
}

TEST(Bench, ParallelStreamsCountEveryStreamsTokens) {
  REQUIRE_GEMMA();
  StoreDir dir("bench-parallel");
  const RunResult r = dir.kiln(
      {"bench", gemma_path().string(), "-p", "0", "-n", "3", "--parallel", "1,4", "-r", "1", "-t", "2", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u) << j;
  EXPECT_EQ(j[0]["test"], "tg3");
  EXPECT_EQ(j[0]["n_gen"], 3);
  EXPECT_EQ(j[1]["test"], "tg3x4");
  EXPECT_EQ(j[1]["n_gen"], 12);  // 3 steps of 4 sequences
  EXPECT_NEAR(j[1]["samples_ts"][0].get<double>(), 12 * 1e9 / j[1]["samples_ns"][0].get<double>(), 1e-6);
}

TEST(Bench, ArgumentErrors) {
  StoreDir dir("bench-args");
  EXPECT_EQ(dir.kiln({"bench", "nosuchmodel"}).exit_code, 1);
  if (!fs::exists(gemma_path())) return;
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"-p", "x"}, {"-n", "1,x"}, {"-r", "0"}, {"--kv-type", "q4"}, {"-o", "xml"},
        {"-t", "0"}, {"--parallel", "0"}}) {
    std::vector<std::string> args = {"bench", gemma_path().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const RunResult r = dir.kiln(args);
    EXPECT_EQ(r.exit_code, 1) << extra[0] << " " << extra[1] << "\n" << r.err;
    EXPECT_NE(r.err.find(extra[0]), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace kiln::cli_test
