// Manifests and the model store, checked against files Ollama wrote
// (tests/fixtures/store/README.md says where they come from).
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "store/humanize.h"
#include "store/manifest.h"
#include "store/model_config.h"
#include "store/model_store.h"

namespace fs = std::filesystem;
using namespace kiln::store;

namespace {

std::string read_fixture(const std::string& name) {
  std::ifstream in(fs::path(KILN_FIXTURES) / "store" / name, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path temp_root(const std::string& tag) {
  fs::path p = fs::temp_directory_path() / ("kiln-manifest-test-" + tag + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

// A manifest whose blobs exist: a config and one layer per text.
Manifest make_manifest(BlobStore& blobs, const std::vector<std::pair<std::string_view, std::string>>& layers) {
  Manifest m;
  const auto cfg = blobs.put(std::string_view("{\"model_format\":\"gguf\"}"));
  m.config = Layer{std::string(media::kConfig), cfg.digest, cfg.size, {}};
  for (const auto& [media_type, text] : layers) {
    const auto b = blobs.put(text);
    m.layers.push_back(Layer{std::string(media_type), b.digest, b.size, {}});
  }
  return m;
}

}  // namespace

TEST(Manifest, ReadsAndRewritesOllamaManifestByteForByte) {
  const std::string ollama = read_fixture("ollama_gemma_2b_manifest.json");
  ASSERT_FALSE(ollama.empty());
  const Manifest m = Manifest::parse(ollama, "gemma:2b");
  EXPECT_EQ(m.schema_version, 2);
  EXPECT_EQ(m.media_type, media::kManifest);
  EXPECT_EQ(m.config.media_type, media::kConfig);
  EXPECT_EQ(m.config.size, 483u);
  ASSERT_EQ(m.layers.size(), 4u);
  EXPECT_EQ(m.layers[0].media_type, media::kModel);
  EXPECT_EQ(m.layers[0].size, 1678447520u);
  EXPECT_EQ(m.find(media::kTemplate)->digest.hex(), "109037bec39c0becc8221222ae23557559bc594290945a2c4221ab4f303b8871");
  EXPECT_EQ(m.find(media::kLicense), &m.layers[1]);
  EXPECT_EQ(m.find(media::kSystem), nullptr);
  EXPECT_EQ(m.total_size(), 483u + 1678447520u + 8433u + 136u + 84u);
  EXPECT_EQ(m.blobs().size(), 5u);
  EXPECT_EQ(m.to_json(), ollama);
}

TEST(Manifest, TemplateBlobNameMatchesOllama) {
  // gemma:2b's template layer as Ollama stored it: same bytes, same digest.
  const fs::path root = temp_root("tmpl");
  BlobStore blobs(root);
  const auto b = blobs.put(std::string_view(
      "<start_of_turn>user\n{{ if .System }}{{ .System }} {{ end }}{{ .Prompt }}<end_of_turn>\n"
      "<start_of_turn>model\n{{ .Response }}<end_of_turn>\n"));
  const Manifest m = Manifest::parse(read_fixture("ollama_gemma_2b_manifest.json"), "gemma:2b");
  EXPECT_EQ(b.digest, m.find(media::kTemplate)->digest);
  EXPECT_EQ(b.size, m.find(media::kTemplate)->size);
  EXPECT_TRUE(fs::exists(root / "blobs" / ("sha256-" + b.digest.hex())));
  fs::remove_all(root);
}

TEST(Manifest, ConfigFieldOrderMatchesOllama) {
  // Ollama's config without the optional renderer/parser/requires fields.
  std::string expected = read_fixture("ollama_config.json");
  const std::string optional = R"("renderer":"gemma4","parser":"gemma4","requires":"0.20.0",)";
  ASSERT_NE(expected.find(optional), std::string::npos);
  expected.erase(expected.find(optional), optional.size());
  const ModelConfig parsed = ModelConfig::parse(read_fixture("ollama_config.json"));
  EXPECT_EQ(parsed.model_family, "gemma4");
  EXPECT_EQ(parsed.model_type, "8.0B");
  EXPECT_EQ(parsed.file_type, "Q4_K_M");
  ASSERT_EQ(parsed.diff_ids.size(), 1u);
  EXPECT_EQ(parsed.to_json(), expected);
}

TEST(Manifest, RejectsMalformed) {
  const std::string good_digest = "sha256:" + std::string(64, 'a');
  const std::string bad[] = {
      "", "not json", "[]", R"({"schemaVersion":1,"config":{},"layers":[]})",
      R"({"schemaVersion":2,"layers":[]})",
      R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" + good_digest + R"(","size":1}})",
      R"({"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:../../etc/passwd","size":1},"layers":[]})",
      R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" + good_digest + R"(","size":-1},"layers":[]})",
      R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" + good_digest + R"(","size":1},"layers":[{"mediaType":"m","digest":"sha256:abc","size":1}]})",
      R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" + good_digest + R"(","size":1},"layers":[{"digest":")" + good_digest + R"(","size":1}]})",
      R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" + good_digest + R"(","size":"1"},"layers":[]})",
      // Found by fuzz_store: a number too large for a double made nlohmann
      // throw out_of_range (not parse_error), which escaped as a crash.
      "1e888888888888888888888888888888888888888888888888",
      R"({"schemaVersion":2,"size":1e999})",
  };
  for (const auto& text : bad) {
    try {
      Manifest::parse(text, "test:bad");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const kiln::Error& e) {
      EXPECT_NE(std::string(e.what()).find("test:bad"), std::string::npos) << e.what();
    }
  }
}

TEST(ModelStore, PutGetListCaseInsensitive) {
  const fs::path root = temp_root("store");
  ModelStore store(root);
  const Manifest m = make_manifest(store.blobs(), {{media::kModel, "weights"}, {media::kSystem, "be brief"}});
  const Digest id = store.put(ModelName::parse("MyModel:Q4"), m);
  EXPECT_TRUE(fs::is_regular_file(root / "manifests/registry.ollama.ai/library/MyModel/Q4"));

  for (const char* spelling : {"MyModel:Q4", "mymodel:q4", "MYMODEL:q4", "Registry.Ollama.AI/LIBRARY/mymodel:Q4"}) {
    const auto got = store.get(ModelName::parse(spelling));
    EXPECT_EQ(got.name.display(), "MyModel:Q4") << spelling;
    EXPECT_EQ(got.digest, id);
    EXPECT_EQ(got.manifest.to_json(), m.to_json());
  }
  // Re-creating with another casing updates the same model (Ollama's getExistingName).
  store.put(ModelName::parse("MYMODEL:q4"), m);
  EXPECT_EQ(store.list().size(), 1u);
  EXPECT_EQ(store.canonical(ModelName::parse("mymodel:other")).display(), "MyModel:other");

  try {
    store.get(ModelName::parse("missing"));
    FAIL();
  } catch (const kiln::Error& e) {
    EXPECT_EQ(std::string(e.what()), "model 'missing:latest' not found");
  }
  fs::remove_all(root);
}

TEST(ModelStore, ListSkipsForeignFilesAndSortsNewestFirst) {
  const fs::path root = temp_root("list");
  ModelStore store(root);
  const Manifest m = make_manifest(store.blobs(), {{media::kModel, "w"}});
  store.put(ModelName::parse("old"), m);
  fs::last_write_time(root / "manifests/registry.ollama.ai/library/old/latest",
                      fs::file_time_type::clock::now() - std::chrono::hours(48));
  store.put(ModelName::parse("new"), m);
  // Junk that is not a manifest: a temp file, a corrupt manifest, a bad name.
  std::ofstream(root / "manifests/registry.ollama.ai/library/old/.tmp-latest-1") << "{}";
  fs::create_directories(root / "manifests/registry.ollama.ai/library/broken");
  std::ofstream(root / "manifests/registry.ollama.ai/library/broken/latest") << "garbage";
  const auto models = store.list();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].name.display(), "new:latest");
  EXPECT_EQ(models[1].name.display(), "old:latest");
  EXPECT_EQ(models[0].size, m.total_size());
  EXPECT_EQ(human_time_ago(std::chrono::duration<double>(fs::file_time_type::clock::now() - models[1].modified).count()),
            "2 days ago");
  fs::remove_all(root);
}

TEST(ModelStore, RemoveKeepsSharedBlobs) {
  const fs::path root = temp_root("rm");
  ModelStore store(root);
  const Manifest a = make_manifest(store.blobs(), {{media::kModel, "shared weights"}, {media::kSystem, "a only"}});
  const Manifest b = make_manifest(store.blobs(), {{media::kModel, "shared weights"}, {media::kSystem, "b only"}});
  store.put(ModelName::parse("a"), a);
  store.put(ModelName::parse("ns/b:v1"), b);
  const Digest shared = a.layers[0].digest;
  const Digest a_only = a.layers[1].digest;

  const auto removed = store.remove(ModelName::parse("A"));
  EXPECT_EQ(removed, std::vector<Digest>{a_only});
  EXPECT_TRUE(store.blobs().has(shared));
  EXPECT_TRUE(store.blobs().has(a.config.digest));  // b uses the same config bytes
  EXPECT_FALSE(store.blobs().has(a_only));
  EXPECT_FALSE(fs::exists(root / "manifests/registry.ollama.ai/library/a"));  // empty dirs pruned

  store.remove(ModelName::parse("ns/b:v1"));
  EXPECT_TRUE(store.blobs().list().empty());
  EXPECT_TRUE(store.list().empty());
  EXPECT_THROW(store.remove(ModelName::parse("ns/b:v1")), kiln::Error);
  fs::remove_all(root);
}

TEST(ModelStore, CopySharesBlobs) {
  const fs::path root = temp_root("cp");
  ModelStore store(root);
  const Manifest m = make_manifest(store.blobs(), {{media::kModel, "w"}});
  const Digest id = store.put(ModelName::parse("src"), m);
  store.copy(ModelName::parse("SRC"), ModelName::parse("other/dst:v2"));
  const auto copy = store.get(ModelName::parse("other/dst:v2"));
  EXPECT_EQ(copy.digest, id);  // same manifest bytes, same ID
  store.remove(ModelName::parse("src"));
  EXPECT_TRUE(store.blobs().has(m.layers[0].digest));
  EXPECT_THROW(store.copy(ModelName::parse("nothing"), ModelName::parse("x")), kiln::Error);
  fs::remove_all(root);
}

TEST(ModelStore, PutRefusesMissingBlobs) {
  const fs::path root = temp_root("missing");
  ModelStore store(root);
  Manifest m = make_manifest(store.blobs(), {{media::kModel, "w"}});
  m.layers.push_back(Layer{std::string(media::kSystem), Digest::parse("sha256:" + std::string(64, 'b')), 1, {}});
  EXPECT_THROW(store.put(ModelName::parse("x"), m), kiln::Error);
  EXPECT_TRUE(store.list().empty());
  fs::remove_all(root);
}

TEST(Humanize, MatchesOllamaFormatTests) {
  // Cases from Ollama's format/format_test.go (RoundedParameter) and
  // format/bytes_test.go (HumanBytes).
  EXPECT_EQ(human_number(0), "0");
  EXPECT_EQ(human_number(1000000), "1M");
  EXPECT_EQ(human_number(125000000), "125M");
  EXPECT_EQ(human_number(500500000), "500.50M");
  EXPECT_EQ(human_number(500550000), "500.55M");
  EXPECT_EQ(human_number(1000000000), "1B");
  EXPECT_EQ(human_number(2800000000), "2.8B");
  EXPECT_EQ(human_number(2850000000), "2.9B");
  EXPECT_EQ(human_number(1000000000000), "1000B");
  const std::pair<uint64_t, const char*> bytes[] = {
      {0, "0 B"}, {1, "1 B"}, {999, "999 B"}, {1000, "1 KB"}, {1500, "1.5 KB"}, {999999, "999 KB"},
      {1000000, "1 MB"}, {1500000, "1.5 MB"}, {999999999, "999 MB"}, {1000000000, "1 GB"}, {1500000000, "1.5 GB"},
      {999999999999, "999 GB"}, {1000000000000, "1 TB"}, {1500000000000, "1.5 TB"}, {1999999999999, "2.0 TB"},
      {1234, "1.2 KB"}, {1234567, "1.2 MB"}, {1234567890, "1.2 GB"}, {10500, "10.5 KB"}, {10500000, "10.5 MB"},
      {10500000000, "10.5 GB"},
  };
  for (const auto& [n, text] : bytes) EXPECT_EQ(human_bytes(n), text) << n;
  // format/time_test.go: 48 hours ago, and the year boundary cases.
  EXPECT_EQ(human_time_ago(48 * 3600.0), "2 days ago");
  EXPECT_EQ(human_time_ago(0.8), "Less than a second ago");
  EXPECT_EQ(human_time_ago(17519 * 3600.0 + 20 * 60), "24 months ago");
  EXPECT_EQ(human_time_ago(17519 * 3600.0 + 30 * 60), "2 years ago");
  EXPECT_EQ(human_time_ago(26279 * 3600.0 + 40 * 60), "3 years ago");
}

TEST(Manifest, RandomMutationsNeverCrash) {
  const std::string ollama = read_fixture("ollama_gemma_2b_manifest.json");
  std::mt19937 rng(99);
  int accepted = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s = ollama;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % s.size();
      if (rng() % 2) s[pos] = "{}[]\",:0a-/.\\"[rng() % 13];
      else s.erase(pos, 1 + rng() % 8);
    }
    try {
      const Manifest m = Manifest::parse(s, "fuzz");
      ++accepted;
      for (const Digest& d : m.blobs()) EXPECT_EQ(d.hex().size(), 64u);  // only valid digests get through
    } catch (const kiln::Error&) {
    }
  }
  EXPECT_LT(accepted, 2000);
}

// Found by fuzz_store: nlohmann reports a number that overflows a double as
// out_of_range, not parse_error; it must still become a kiln::Error.
TEST(ModelConfig, RejectsNumberOverflowAsInvalidJson) {
  EXPECT_THROW(ModelConfig::parse(R"({"model_format":"gguf","n":1e999})"), kiln::Error);
}
