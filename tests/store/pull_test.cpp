// `kiln pull` against the in-process fake registry: a full pull, resuming
// (within one pull and across pulls), digest mismatch, deduplication,
// redirects, token auth, registry errors, disk-space check, cancellation, and
// the pulled model working with `kiln show`.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "../cli/cli_helpers.h"
#include "core/error.h"
#include "fake_registry.h"
#include "store/model_store.h"
#include "store/pull.h"

namespace kiln::store_test {
namespace {

namespace fs = std::filesystem;
using cli_test::StoreDir;
using cli_test::TinyModel;
using store::Digest;
using store::ModelName;
using store::ModelStore;
using store::PullOptions;
using store::PullUpdate;

const char* kTemplate = "{%- for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{%- endfor %}";

// A tiny GGUF big enough (~200 KB) that a drop mid-blob leaves a real prefix.
fs::path write_model(const StoreDir& d, const std::string& file, uint32_t seed = 1) {
  TinyModel m;
  m.tensors.push_back({"blk.0.ffn_up.weight", GgmlType::F16, {256, 384}});
  m.write(d.file(file), seed);
  return d.file(file);
}

struct PullFixture : ::testing::Test {
  StoreDir d{"pull-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())};
  FakeRegistry registry;
  ModelStore store{d.store()};
  std::vector<PullUpdate> updates;

  PullOptions options() const {
    PullOptions o;
    o.registry.base_url = registry.url();
    o.download.retry_delay = std::chrono::milliseconds(10);
    return o;
  }
  store::StoredModel pull(const std::string& what, const PullOptions& o) {
    return store::pull_model(store, what, o, [&](const PullUpdate& u) { updates.push_back(u); });
  }
  store::StoredModel pull(const std::string& what) { return pull(what, options()); }

  std::string pull_error(const std::string& what, const PullOptions& o) {
    try {
      pull(what, o);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "pull of " << what << " succeeded";
    return "";
  }
  std::string pull_error(const std::string& what) { return pull_error(what, options()); }

  std::vector<std::string> statuses() const {
    std::vector<std::string> out;
    for (const auto& u : updates)
      if (out.empty() || out.back() != u.status) out.push_back(u.status);
    return out;
  }
  bool has_partial() const {
    std::error_code ec;
    for (fs::directory_iterator it(d.store() / "blobs", ec), end; !ec && it != end; it.increment(ec))
      if (it->path().filename().string().find("-partial") != std::string::npos) return true;
    return false;
  }
};

TEST_F(PullFixture, PullsManifestAndBlobsInOllamasOrder) {
  const auto m = registry.publish("library", "tiny", "latest", write_model(d, "tiny.gguf"), kTemplate,
                                  R"({"temperature":0.5})");
  const auto model = pull("tiny");
  EXPECT_EQ(model.name.full(), "registry.ollama.ai/library/tiny:latest");
  EXPECT_EQ(model.manifest.to_json(), m.to_json());
  for (const Digest& b : m.blobs()) EXPECT_TRUE(store.blobs().has(b)) << b.str();
  EXPECT_FALSE(has_partial());

  std::vector<std::string> want = {"pulling manifest"};
  for (const auto& l : m.layers) want.push_back("pulling " + l.digest.short_id());
  want.push_back("pulling " + m.config.digest.short_id());
  for (const char* s : {"verifying sha256 digest", "writing manifest", "success"}) want.push_back(s);
  EXPECT_EQ(statuses(), want);
  // Every blob's last update reports it complete, with the digest and size from the manifest.
  for (const auto& l : m.layers) {
    const PullUpdate* last = nullptr;
    for (const auto& u : updates)
      if (u.digest == l.digest.str()) last = &u;
    ASSERT_NE(last, nullptr);
    EXPECT_EQ(last->total, l.size);
    EXPECT_EQ(last->completed, l.size);
  }
  // The manifest was asked for with Ollama's Accept header (checked by the
  // route: it serves manifests only), and each blob fetched exactly once.
  for (const Digest& b : m.blobs()) EXPECT_EQ(registry.requests_for(b.str()).size(), 1u) << b.str();
}

TEST_F(PullFixture, DroppedConnectionResumesWithRange) {
  const auto m = registry.publish("library", "tiny", "latest", write_model(d, "tiny.gguf"));
  const store::Layer& weights = m.layers[0];
  const uint64_t cut = weights.size / 3;
  registry.drop_once(weights.digest.str(), cut);
  pull("tiny");
  const auto reqs = registry.requests_for(weights.digest.str());
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].range, "");
  EXPECT_EQ(reqs[1].range, "bytes=" + std::to_string(cut) + "-");
  EXPECT_TRUE(store.blobs().has(weights.digest));
  EXPECT_EQ(store::sha256_of_file(store.blobs().path(weights.digest)), weights.digest);
}

TEST_F(PullFixture, LaterPullResumesThePartialFile) {
  const auto m = registry.publish("library", "tiny", "latest", write_model(d, "tiny.gguf"));
  const store::Layer& weights = m.layers[0];
  const uint64_t cut = weights.size / 2 + 7;
  registry.drop_once(weights.digest.str(), cut);
  PullOptions no_retry = options();
  no_retry.download.retries = 0;
  const std::string err = pull_error("tiny", no_retry);
  EXPECT_NE(err.find("network error"), std::string::npos) << err;
  EXPECT_NE(err.find("pull again to resume"), std::string::npos) << err;
  const fs::path partial = store::partial_blob_path(store.blobs(), weights.digest);
  ASSERT_TRUE(fs::exists(partial));
  EXPECT_EQ(fs::file_size(partial), cut);
  EXPECT_FALSE(store.find(ModelName::parse("tiny")));  // no manifest before every blob is in

  registry.clear_log();
  updates.clear();
  pull("tiny", no_retry);
  const auto reqs = registry.requests_for(weights.digest.str());
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].range, "bytes=" + std::to_string(cut) + "-");
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_EQ(store::sha256_of_file(store.blobs().path(weights.digest)), weights.digest);
  // The first update of the resumed blob already counts the kept bytes.
  for (const auto& u : updates)
    if (u.digest == weights.digest.str() && u.completed > 0) {
      EXPECT_GE(u.completed, cut);
      break;
    }
}

TEST_F(PullFixture, DigestMismatchFailsAndLeavesNoBlob) {
  const auto m = registry.publish("library", "tiny", "latest", write_model(d, "tiny.gguf"));
  const store::Layer& weights = m.layers[0];
  registry.corrupt(weights.digest);
  const std::string err = pull_error("tiny");
  EXPECT_NE(err.find("digest mismatch"), std::string::npos) << err;
  EXPECT_NE(err.find(weights.digest.str()), std::string::npos) << err;
  EXPECT_FALSE(store.blobs().has(weights.digest));
  EXPECT_FALSE(has_partial());
  EXPECT_FALSE(store.find(ModelName::parse("tiny")));
}

TEST_F(PullFixture, SkipsBlobsAlreadyStored) {
  const fs::path gguf = write_model(d, "tiny.gguf");
  const auto a = registry.publish("library", "tiny", "latest", gguf, kTemplate);
  const auto b = registry.publish("library", "tiny", "chat", gguf, "{{ .Prompt }}");
  pull("tiny");
  registry.clear_log();
  updates.clear();
  pull("tiny:chat");
  ASSERT_EQ(a.layers[0].digest, b.layers[0].digest);
  EXPECT_TRUE(registry.requests_for(a.layers[0].digest.str()).empty());  // the shared weights were not fetched
  EXPECT_EQ(registry.requests_for(b.layers[1].digest.str()).size(), 1u);  // the new template was
  bool reported = false;
  for (const auto& u : updates)
    if (u.digest == a.layers[0].digest.str() && u.completed == a.layers[0].size) reported = true;
  EXPECT_TRUE(reported);  // a skipped blob still shows as complete
  EXPECT_EQ(store.list().size(), 2u);
}

TEST_F(PullFixture, RepullPrunesBlobsOnlyTheOldVersionUsed) {
  const auto v1 = registry.publish("library", "tiny", "latest", write_model(d, "v1.gguf", 1), kTemplate);
  const auto other = registry.publish("library", "other", "latest", write_model(d, "v1.gguf", 1), "{{ .Prompt }}");
  pull("tiny");
  pull("other");  // shares v1's weights
  const auto v2 = registry.publish("library", "tiny", "latest", write_model(d, "v2.gguf", 2), kTemplate);
  ASSERT_NE(v1.layers[0].digest, v2.layers[0].digest);
  updates.clear();
  pull("tiny");
  EXPECT_TRUE(store.blobs().has(v1.layers[0].digest));  // still used by "other"
  EXPECT_TRUE(store.blobs().has(v1.layers[1].digest));  // the template did not change
  EXPECT_FALSE(store.blobs().has(v1.config.digest));    // only v1 used its config
  const auto s = statuses();
  EXPECT_EQ(s[s.size() - 2], "removing unused layers");

  store.remove(ModelName::parse("other"));
  const auto v3 = registry.publish("library", "tiny", "latest", write_model(d, "v3.gguf", 3), kTemplate);
  PullOptions keep = options();
  keep.prune = false;
  pull("tiny", keep);
  EXPECT_TRUE(store.blobs().has(v2.layers[0].digest));  // kept: pruning was off
  EXPECT_TRUE(store.blobs().has(v3.layers[0].digest));
}

TEST_F(PullFixture, FollowsRedirectsToAnotherHostWithoutCredentials) {
  FakeRegistry storage;
  const fs::path gguf = write_model(d, "tiny.gguf");
  const auto m = registry.publish("library", "tiny", "latest", gguf, kTemplate);
  storage.publish("library", "tiny", "latest", gguf, kTemplate);  // the same blobs, on the storage side
  registry.redirect_blobs(storage.url());
  registry.require_token("s3cret");
  pull("tiny");
  for (const Digest& b : m.blobs()) {
    const auto at_storage = storage.requests_for("/storage/" + b.hex());
    ASSERT_EQ(at_storage.size(), 1u) << b.str();
    // The signed query's parameters arrived intact and the registry's token
    // stayed behind (the storage route refuses the request otherwise).
    EXPECT_EQ(at_storage[0].authorization, "");
  }
  EXPECT_EQ(registry.requests_for("/token").size(), 1u);
  EXPECT_EQ(registry.requests_for(m.layers[0].digest.str()).back().authorization, "Bearer s3cret");
}

TEST_F(PullFixture, UnknownModelIsOllamasMessage) {
  EXPECT_EQ(pull_error("nosuchmodel"), "pull model manifest: file does not exist");
  EXPECT_EQ(pull_error("nosuchmodel:tag"), "pull model manifest: file does not exist");
  EXPECT_FALSE(has_partial());
}

TEST_F(PullFixture, MalformedManifestsAreRejected) {
  registry.set_manifest("library", "broken", "latest", "{\"schemaVersion\": 2, \"layers\": [");
  std::string err = pull_error("broken");
  EXPECT_EQ(err.rfind("pull model manifest: ", 0), 0u) << err;
  EXPECT_NE(err.find("not valid JSON"), std::string::npos) << err;

  registry.set_manifest("library", "baddigest", "latest",
                        R"({"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:../../etc","size":1},"layers":[]})");
  err = pull_error("baddigest");
  EXPECT_EQ(err.rfind("pull model manifest: ", 0), 0u) << err;
  EXPECT_FALSE(store.find(ModelName::parse("baddigest")));
}

TEST_F(PullFixture, NetworkFailureNamesTheRegistry) {
  PullOptions o = options();
  {
    FakeRegistry gone;  // a port that was just in use and is now closed
    o.registry.base_url = gone.url();
  }
  const std::string err = pull_error("tiny", o);
  EXPECT_EQ(err.rfind("pull model manifest: cannot connect to http://127.0.0.1:", 0), 0u) << err;
}

TEST_F(PullFixture, RefusesAPullThatCannotFitOnDisk) {
  const std::string huge = R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",)"
                           R"("config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:)" +
                           std::string(64, 'a') + R"(","size":100},"layers":[{"mediaType":"application/vnd.ollama.image.model",)"
                           R"("digest":"sha256:)" + std::string(64, 'b') + R"(","size":1000000000000000000}]})";
  registry.set_manifest("library", "huge", "latest", huge);
  const std::string err = pull_error("huge");
  EXPECT_EQ(err.rfind("not enough disk space to pull huge:latest", 0), 0u) << err;
  EXPECT_TRUE(registry.requests_for("/blobs/").empty());
}

TEST_F(PullFixture, CancelKeepsThePartialFile) {
  const auto m = registry.publish("library", "tiny", "latest", write_model(d, "tiny.gguf"));
  std::stop_source stop;
  PullOptions o = options();
  o.download.stop = stop.get_token();
  std::string err;
  try {
    store::pull_model(store, "tiny", o, [&](const PullUpdate& u) {
      if (u.digest == m.layers[0].digest.str()) stop.request_stop();
    });
  } catch (const Error& e) {
    err = e.what();
  }
  EXPECT_EQ(err, "pull cancelled");
  EXPECT_TRUE(fs::exists(store::partial_blob_path(store.blobs(), m.layers[0].digest)));
  EXPECT_FALSE(store.find(ModelName::parse("tiny")));
}

TEST_F(PullFixture, HttpSchemeInTheNameMeansInsecure) {
  registry.publish("library", "tiny", "latest", write_model(d, "tiny.gguf"));
  PullOptions o;  // no base URL: the name's host is the registry
  o.download.retry_delay = std::chrono::milliseconds(10);
  const std::string host = "127.0.0.1:" + std::to_string(registry.port());
  const auto model = pull("http://" + host + "/library/tiny", o);
  EXPECT_EQ(model.name.host(), host);
  o.registry.insecure = true;
  EXPECT_EQ(pull(host + "/library/tiny:latest", o).digest, model.digest);
}

TEST_F(PullFixture, CliPullsThenShows) {
  registry.publish("library", "tiny", "latest", write_model(d, "tiny.gguf"), kTemplate);
  ::setenv("KILN_REGISTRY", registry.url().c_str(), 1);
  const auto pulled = d.kiln({"pull", "tiny"});
  const auto missing = d.kiln({"pull", "nosuchmodel"});
  ::unsetenv("KILN_REGISTRY");
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  // Not a terminal: one plain line per step.
  EXPECT_EQ(pulled.err.rfind("pulling manifest\npulling ", 0), 0u) << pulled.err;
  EXPECT_NE(pulled.err.find("\nverifying sha256 digest\nwriting manifest\nsuccess\n"), std::string::npos) << pulled.err;
  EXPECT_EQ(pulled.err.find('\r'), std::string::npos);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err.substr(missing.err.rfind("Error:")), "Error: pull model manifest: file does not exist\n");

  const auto show = d.kiln({"show", "tiny"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("architecture        llama"), std::string::npos) << show.out;
  const auto list = d.kiln({"list"});
  EXPECT_NE(list.out.find("tiny:latest"), std::string::npos) << list.out;
}

}  // namespace
}  // namespace kiln::store_test
