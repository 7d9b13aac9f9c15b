// Pulling a GGUF file by URL: imported like `kiln create` (template from the
// file, config blob, manifest), resumable with Range + If-Range, refused
// when the file is not GGUF; default names for Hugging Face URLs.
#include <gtest/gtest.h>

#include <filesystem>

#include "../cli/cli_helpers.h"
#include "core/error.h"
#include "fake_registry.h"
#include "store/model_store.h"
#include "store/model_view.h"
#include "store/pull.h"

namespace kiln::store_test {
namespace {

namespace fs = std::filesystem;
using cli_test::StoreDir;
using cli_test::TinyModel;
using store::ModelName;
using store::Url;

const char* kTemplate = "{%- for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{%- endfor %}";

std::string write_model_bytes(const StoreDir& d, const std::string& file) {
  TinyModel m;
  m.chat_template = kTemplate;
  m.tensors.push_back({"blk.0.ffn_up.weight", GgmlType::F16, {256, 256}});
  m.write(d.file(file));
  return cli_test::slurp(d.file(file));
}

bool has_partial(const StoreDir& d) {
  std::error_code ec;
  for (fs::directory_iterator it(d.store() / "blobs", ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().find("partial") != std::string::npos) return true;
  return false;
}

store::PullOptions fast_options() {
  store::PullOptions o;
  o.download.retry_delay = std::chrono::milliseconds(10);
  return o;
}

TEST(PullUrl, NamesForHuggingFaceAndOtherUrls) {
  auto name = [](const std::string& url) { return store::name_for_gguf_url(Url::parse(url)).full(); };
  EXPECT_EQ(name("https://huggingface.co/bartowski/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/"
                 "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf?download=true"),
            "hf.co/bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M");
  EXPECT_EQ(name("https://huggingface.co/unsloth/gemma-3-270m-it-GGUF/resolve/main/gemma-3-270m-it-IQ4_XS.gguf"),
            "hf.co/unsloth/gemma-3-270m-it-GGUF:IQ4_XS");
  EXPECT_EQ(name("https://huggingface.co/u/r/resolve/main/model.f16.gguf"), "hf.co/u/r:f16");
  EXPECT_EQ(name("https://huggingface.co/some.org/r/resolve/main/x-Q4_0.gguf"), "hf.co/some-org/r:Q4_0");
  EXPECT_EQ(name("https://huggingface.co/u/r/resolve/main/sub/dir/plain%20name.gguf"), "hf.co/u/r:plain-name");
  EXPECT_EQ(name("http://127.0.0.1:8080/files/tiny-model.gguf"), "registry.ollama.ai/library/tiny-model:latest");
  EXPECT_TRUE(store::is_gguf_url("https://x.org/a/b.GGUF?x=1"));
  EXPECT_FALSE(store::is_gguf_url("https://x.org/a/b.bin"));
  EXPECT_FALSE(store::is_gguf_url("hf.co/u/r:Q4_K_M"));
}

TEST(PullUrl, ImportsLikeCreate) {
  StoreDir d("pull-url-import");
  FakeRegistry server;
  server.add_file("tiny-Q8_0.gguf", write_model_bytes(d, "tiny.gguf"));
  store::ModelStore st(d.store());
  std::vector<std::string> statuses;
  const auto model = store::pull_model(st, server.url() + "/files/tiny-Q8_0.gguf", fast_options(),
                                       [&](const store::PullUpdate& u) {
                                         if (statuses.empty() || statuses.back() != u.status) statuses.push_back(u.status);
                                       });
  EXPECT_EQ(model.name.display(), "tiny-Q8_0:latest");
  EXPECT_EQ(statuses.front(), "pulling tiny-Q8_0.gguf");
  EXPECT_EQ(statuses.back(), "success");
  EXPECT_FALSE(has_partial(d));

  // The same model `kiln create` makes from the same file.
  d.write_file("Modelfile", "FROM ./tiny.gguf\n");
  const auto created = d.kiln({"create", "local"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(st.get(ModelName::parse("local")).manifest.to_json(), model.manifest.to_json());
  EXPECT_EQ(store::view_stored_model(st, model.name).template_text, kTemplate);

  const auto show = d.kiln({"show", "tiny-Q8_0"});
  EXPECT_EQ(show.exit_code, 0) << show.err;
}

TEST(PullUrl, ResumesWithIfRange) {
  StoreDir d("pull-url-resume");
  FakeRegistry server;
  const std::string bytes = write_model_bytes(d, "tiny.gguf");
  server.add_file("tiny.gguf", bytes);
  server.drop_once("tiny.gguf", bytes.size() / 2);
  store::ModelStore st(d.store());
  store::PullOptions o = fast_options();
  o.download.retries = 0;
  o.name = "mine:v1";
  const std::string url = server.url() + "/files/tiny.gguf";
  EXPECT_THROW(store::pull_model(st, url, o, {}), Error);
  EXPECT_TRUE(has_partial(d));
  store::pull_model(st, url, o, {});
  const auto reqs = server.requests_for("/files/tiny.gguf");
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].range, "bytes=" + std::to_string(bytes.size() / 2) + "-");
  EXPECT_FALSE(reqs[1].if_range.empty());  // the ETag of the first answer
  EXPECT_TRUE(st.find(ModelName::parse("mine:v1")));
  EXPECT_FALSE(has_partial(d));
}

TEST(PullUrl, NotAGgufFileIsRefusedAndDropped) {
  StoreDir d("pull-url-bad");
  FakeRegistry server;
  server.add_file("fake.gguf", std::string(4096, 'x'));
  store::ModelStore st(d.store());
  try {
    store::pull_model(st, server.url() + "/files/fake.gguf", fast_options(), {});
    ADD_FAILURE() << "a non-GGUF file was imported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not a valid GGUF file"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(has_partial(d));
  EXPECT_TRUE(st.list().empty());

  try {
    store::pull_model(st, server.url() + "/files/missing.gguf", fast_options(), {});
    ADD_FAILURE() << "a missing file was imported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("404"), std::string::npos) << e.what();
  }
}

TEST(PullUrl, UrlsThatAreNotGgufFilesAreRefused) {
  StoreDir d("pull-url-notgguf");
  store::ModelStore st(d.store());
  try {
    store::pull_model(st, "https://huggingface.co/u/r/resolve/main/model.safetensors", fast_options(), {});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("must name a .gguf file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln::store_test
