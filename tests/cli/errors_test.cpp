// Bad input never crashes kiln: malformed GGUF files, unknown models, hostile
// names and broken Modelfiles end with "Error: <message>" and exit code 1.
#include <gtest/gtest.h>

#include "cli_helpers.h"

using namespace kiln::cli_test;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

void expect_clean_failure(const RunResult& r, const std::string& message_part) {
  EXPECT_FALSE(r.signaled);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  // Progress lines may come first; the error is the last line.
  const size_t at = r.err.rfind("Error: ");
  ASSERT_NE(at, std::string::npos) << r.err;
  EXPECT_TRUE(at == 0 || r.err[at - 1] == '\n') << r.err;
  EXPECT_EQ(r.err.find('\n', at), r.err.size() - 1) << r.err;
  EXPECT_TRUE(contains(r.err, message_part)) << "stderr: " << r.err << "\nexpected: " << message_part;
}

}  // namespace

TEST(CliErrors, MalformedGgufFailsCleanly) {
  StoreDir d("malformed");
  TinyModel().write(d.file("good.gguf"));
  const std::string good = slurp(d.file("good.gguf"));
  std::vector<std::pair<std::string, std::string>> files = {
      {"empty.gguf", ""},
      {"text.gguf", "this is not a model\n"},
      {"magic.gguf", "GGUF"},
      {"truncated.gguf", good.substr(0, good.size() / 3)},
      {"short-data.gguf", good.substr(0, good.size() - 100)},
  };
  std::string bad_version = good;
  bad_version[4] = 99;
  files.emplace_back("version.gguf", bad_version);
  std::string huge_count = good;
  for (int i = 8; i < 16; ++i) huge_count[i] = '\xff';  // tensor count 2^64-1
  files.emplace_back("count.gguf", huge_count);

  for (const auto& [name, bytes] : files) {
    SCOPED_TRACE(name);
    d.write_file(name, bytes);
    d.write_file("Modelfile", "FROM ./" + name + "\n");
    expect_clean_failure(d.kiln({"create", "bad"}), name);
    expect_clean_failure(d.kiln({"show", "./" + name}), name);
  }
  // Nothing was stored for any of them.
  EXPECT_EQ(d.blob_count(), 0u);
  EXPECT_FALSE(fs::exists(d.store() / "manifests"));
}

TEST(CliErrors, UnknownModel) {
  StoreDir d("unknown");
  expect_clean_failure(d.kiln({"show", "nope"}), "model 'nope:latest' not found");
  expect_clean_failure(d.kiln({"rm", "nope:7b"}), "model 'nope:7b' not found");
  expect_clean_failure(d.kiln({"cp", "nope", "other"}), "model 'nope:latest' not found");
  expect_clean_failure(d.kiln({"show", "./missing.gguf"}), "no such file or model: ./missing.gguf");
  d.write_file("Modelfile", "FROM nothing-here\n");
  expect_clean_failure(d.kiln({"create", "x"}), "FROM nothing-here (line 1): no such file");
  d.write_file("Modelfile", "# a folder is not a model\nFROM .\n");
  expect_clean_failure(d.kiln({"create", "x"}), "FROM . (line 2): ");
  expect_clean_failure(d.kiln({"create", "x"}), "is not a regular file");
}

TEST(CliErrors, HostileNamesAreRejected) {
  StoreDir d("hostile");
  TinyModel().write(d.file("tiny.gguf"));
  d.write_file("Modelfile", "FROM tiny.gguf\n");
  for (const std::string name : {"../../escape", "a/../../b", "%2e%2e", "/abs/path", "a/b/c/d", "x..y", ".hidden"}) {
    SCOPED_TRACE(name);
    expect_clean_failure(d.kiln({"create", name}), "invalid model name");
    expect_clean_failure(d.kiln({"show", name}), "");
    expect_clean_failure(d.kiln({"rm", name}), "invalid model name");
  }
  ASSERT_EQ(d.kiln({"create", "ok"}).exit_code, 0);
  expect_clean_failure(d.kiln({"cp", "ok", "../../out"}), "invalid model name");
  // Nothing escaped the store: the only manifest is ok's.
  size_t manifests = 0;
  for (const auto& e : fs::recursive_directory_iterator(d.dir()))
    if (e.is_regular_file() && e.path().string().find("/manifests/") != std::string::npos) ++manifests;
  EXPECT_EQ(manifests, 1u);
  EXPECT_FALSE(fs::exists(d.dir().parent_path() / "escape"));
  EXPECT_FALSE(fs::exists(d.dir().parent_path() / "out"));
}

TEST(CliErrors, ModelfileErrorsNameFileAndLine) {
  StoreDir d("mf-errors");
  TinyModel().write(d.file("tiny.gguf"));
  d.write_file("Modelfile", "FROM tiny.gguf\n# comment\nPARAMETER temperature warm\n");
  expect_clean_failure(d.kiln({"create", "x"}), "Modelfile (line 3): invalid float value \"warm\" for parameter temperature");
  d.write_file("Modelfile", "FROM tiny.gguf\nPARAMETER mirostat 1\n");
  const auto warned = d.kiln({"create", "x"});
  EXPECT_EQ(warned.exit_code, 0) << warned.err;
  EXPECT_TRUE(contains(warned.err, "warning: parameter mirostat is deprecated")) << warned.err;
  expect_clean_failure(d.kiln({"create", "y", "-q", "q3_bogus"}), "unsupported quantization type \"q3_bogus\"");
}
