// `kiln create`, `list`, `cp` and `rm` against a private store.
#include <gtest/gtest.h>

#include <regex>

#include "cli_helpers.h"
#include "store/digest.h"
#include "template/chat_template.h"

using namespace kiln::cli_test;

namespace {

const char* kModelfile = R"(FROM ./tiny.gguf
PARAMETER temperature 0.5
PARAMETER stop </s>
SYSTEM Be brief.
LICENSE MIT
)";

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(CliCreate, CreatesOllamaLayoutAndProgress) {
  StoreDir d("create");
  TinyModel().write(d.file("tiny.gguf"));
  d.write_file("Modelfile", kModelfile);
  const auto r = d.kiln({"create", "tiny"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Ollama's progress lines, in order.
  const std::regex steps(
      "gathering model components \n"
      "copying file sha256:[0-9a-f]{64} 100% \n"
      "parsing GGUF \n"
      "using existing layer sha256:[0-9a-f]{64} \n"
      "(creating new layer sha256:[0-9a-f]{64} \n){3}"
      "writing manifest \n"
      "success \n");
  EXPECT_TRUE(std::regex_match(r.err, steps)) << r.err;

  const fs::path manifest = d.store() / "manifests/registry.ollama.ai/library/tiny/latest";
  ASSERT_TRUE(fs::is_regular_file(manifest));
  const auto json = nlohmann::json::parse(slurp(manifest));
  EXPECT_EQ(json["schemaVersion"], 2);
  EXPECT_EQ(json["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(json["config"]["mediaType"], "application/vnd.docker.container.image.v1+json");
  std::vector<std::string> media;
  for (const auto& l : json["layers"]) {
    media.push_back(l["mediaType"]);
    // Every layer's blob exists under its digest with its size.
    const fs::path blob = d.store() / "blobs" / ("sha256-" + l["digest"].get<std::string>().substr(7));
    ASSERT_TRUE(fs::is_regular_file(blob)) << blob;
    EXPECT_EQ(fs::file_size(blob), l["size"].get<uint64_t>());
    EXPECT_EQ(kiln::store::sha256_of_file(blob).str(), l["digest"]);
  }
  EXPECT_EQ(media, (std::vector<std::string>{"application/vnd.ollama.image.model", "application/vnd.ollama.image.system",
                                             "application/vnd.ollama.image.license", "application/vnd.ollama.image.params"}));
  // The model layer is the GGUF file, byte for byte.
  EXPECT_EQ(json["layers"][0]["digest"], kiln::store::sha256_of_file(d.file("tiny.gguf")).str());
  // The params layer holds typed JSON; the config names family, size and file type.
  const std::string params = slurp(d.store() / "blobs" / ("sha256-" + json["layers"][3]["digest"].get<std::string>().substr(7)));
  EXPECT_EQ(params, R"({"stop":["</s>"],"temperature":0.5})");
  const auto config = nlohmann::json::parse(
      slurp(d.store() / "blobs" / ("sha256-" + json["config"]["digest"].get<std::string>().substr(7))));
  EXPECT_EQ(config["model_format"], "gguf");
  EXPECT_EQ(config["model_family"], "llama");
  EXPECT_EQ(config["model_families"], nlohmann::json::array({"llama"}));
  EXPECT_EQ(config["model_type"], std::to_string(TinyModel().parameter_count()));  // under 1000: printed plainly
  EXPECT_EQ(config["file_type"], "F16");
  EXPECT_EQ(config["os"], "linux");
  EXPECT_EQ(config["rootfs"]["type"], "layers");
  EXPECT_EQ(config["rootfs"]["diff_ids"].size(), 4u);
}

TEST(CliCreate, DefaultsToDotModelfileAndReportsMissingOne) {
  StoreDir d("default-mf");
  TinyModel().write(d.file("tiny.gguf"));
  auto r = d.kiln({"create", "tiny"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "Error: no Modelfile at ")) << r.err;
  d.write_file("Modelfile", "FROM tiny.gguf\n");
  r = d.kiln({"create", "tiny"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::create_directories(d.file("sub"));
  d.write_file("sub/My.modelfile", "FROM ../tiny.gguf\n");  // relative to the Modelfile's folder
  r = d.kiln({"create", "other", "-f", "sub/My.modelfile"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(CliCreate, DeduplicatesBlobs) {
  StoreDir d("dedup");
  TinyModel().write(d.file("tiny.gguf"));
  d.write_file("Modelfile", kModelfile);
  ASSERT_EQ(d.kiln({"create", "one"}).exit_code, 0);
  const size_t blobs = d.blob_count();
  EXPECT_EQ(blobs, 5u);  // model, system, license, params, config
  // The same Modelfile under another name: every layer is reused.
  const auto again = d.kiln({"create", "two"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_FALSE(contains(again.err, "creating new layer")) << again.err;
  EXPECT_EQ(d.blob_count(), blobs);
  // Another system prompt adds exactly one blob, plus a new config (its diff_ids differ).
  d.write_file("Modelfile.2", "FROM ./tiny.gguf\nSYSTEM Be verbose.\n");
  ASSERT_EQ(d.kiln({"create", "three", "-f", "Modelfile.2"}).exit_code, 0);
  EXPECT_EQ(d.blob_count(), blobs + 2);
  // No temporary files are left in the store.
  for (const auto& e : fs::recursive_directory_iterator(d.store()))
    EXPECT_EQ(e.path().filename().string().find("tmp"), std::string::npos) << e.path();
}

TEST(CliCreate, FromStoredModelInheritsAndOverrides) {
  StoreDir d("inherit");
  TinyModel m;
  m.chat_template = "{{ messages }}";
  m.write(d.file("tiny.gguf"));
  d.write_file("Modelfile", kModelfile);
  ASSERT_EQ(d.kiln({"create", "base"}).exit_code, 0);
  d.write_file("Child", "FROM base\nSYSTEM Be funny.\nPARAMETER top_k 7\nMESSAGE user hi\n");
  const auto r = d.kiln({"create", "child", "-f", "Child"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(contains(r.err, "copying file"));  // no new weights
  const auto show = d.kiln({"show", "child", "--modelfile"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_TRUE(contains(show.out, "TEMPLATE {{ messages }}\n")) << show.out;  // inherited from the GGUF
  EXPECT_TRUE(contains(show.out, "SYSTEM Be funny.\n")) << show.out;           // replaced
  EXPECT_TRUE(contains(show.out, "PARAMETER stop </s>\n")) << show.out;        // inherited
  EXPECT_TRUE(contains(show.out, "PARAMETER temperature 0.5\n")) << show.out;  // inherited
  EXPECT_TRUE(contains(show.out, "PARAMETER top_k 7\n")) << show.out;          // added
  EXPECT_TRUE(contains(show.out, "LICENSE MIT\n")) << show.out;
  EXPECT_TRUE(contains(show.out, "MESSAGE user hi\n")) << show.out;
  // The base's weights blob is shared.
  const auto base = nlohmann::json::parse(slurp(d.store() / "manifests/registry.ollama.ai/library/base/latest"));
  const auto child = nlohmann::json::parse(slurp(d.store() / "manifests/registry.ollama.ai/library/child/latest"));
  EXPECT_EQ(base["layers"][0], child["layers"][0]);
}

TEST(CliList, ShowsNameIdSizeModified) {
  StoreDir d("list");
  TinyModel().write(d.file("tiny.gguf"));
  d.write_file("Modelfile", kModelfile);
  ASSERT_EQ(d.kiln({"create", "alice/tiny:v1"}).exit_code, 0);
  const auto r = d.kiln({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id =
      kiln::store::sha256_of_file(d.store() / "manifests/registry.ollama.ai/alice/tiny/v1").hex().substr(0, 12);
  const std::regex table("NAME +ID +SIZE +MODIFIED\nalice/tiny:v1 +" + id + " +[0-9.]+ (B|KB) +(Less than a second|[0-9]+ seconds) ago\n");
  EXPECT_TRUE(std::regex_match(r.out, table)) << r.out;
  EXPECT_EQ(d.kiln({"ls"}).out, r.out);
  // An empty store lists only the header.
  StoreDir empty("list-empty");
  EXPECT_EQ(empty.kiln({"list"}).out, "NAME    ID    SIZE    MODIFIED\n");
}

TEST(CliCpRm, CopyThenRemoveKeepsSharedBlobs) {
  StoreDir d("cprm");
  TinyModel().write(d.file("tiny.gguf"));
  d.write_file("Modelfile", kModelfile);
  ASSERT_EQ(d.kiln({"create", "orig"}).exit_code, 0);
  const size_t blobs = d.blob_count();
  auto r = d.kiln({"cp", "orig", "team/copy:2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "copied 'orig' to 'team/copy:2'\n");
  EXPECT_EQ(d.blob_count(), blobs);
  const auto list = d.kiln({"list"}).out;
  EXPECT_TRUE(contains(list, "orig:latest")) << list;
  EXPECT_TRUE(contains(list, "team/copy:2")) << list;

  // A model sharing the weights but with its own system prompt.
  d.write_file("Other", "FROM ./tiny.gguf\nSYSTEM Other.\n");
  ASSERT_EQ(d.kiln({"create", "other", "-f", "Other"}).exit_code, 0);
  const size_t with_other = d.blob_count();

  r = d.kiln({"rm", "ORIG"});  // names match without regard to case
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "deleted 'ORIG'\n");
  EXPECT_EQ(d.blob_count(), with_other);  // the copy still uses every blob
  r = d.kiln({"rm", "team/copy:2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Only the blobs nobody else uses are gone: system "Be brief.", license, params, config.
  EXPECT_EQ(d.blob_count(), with_other - 4);
  EXPECT_EQ(d.kiln({"show", "other", "--system"}).out, "Other.");
  r = d.kiln({"rm", "other"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(d.blob_count(), 0u);
  EXPECT_FALSE(fs::exists(d.store() / "manifests/registry.ollama.ai"));  // empty folders pruned
}

TEST(CliCpRm, RemovesSeveralAndStopsAtUnknown) {
  StoreDir d("rm-many");
  TinyModel().write(d.file("tiny.gguf"));
  d.write_file("Modelfile", "FROM tiny.gguf\n");
  ASSERT_EQ(d.kiln({"create", "a"}).exit_code, 0);
  ASSERT_EQ(d.kiln({"create", "b"}).exit_code, 0);
  auto r = d.kiln({"rm", "a", "b"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "deleted 'a'\ndeleted 'b'\n");
  r = d.kiln({"rm", "a"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Error: model 'a:latest' not found\n");
}

TEST(CliCreate, TemplateComesFromModelfileThenGgufThenBuiltin) {
  StoreDir d("templates");
  TinyModel gemma;
  gemma.arch = "gemma3";
  gemma.write(d.file("gemma.gguf"));
  TinyModel llama;  // arch "llama" has no default: Llama 2/3 and Mistral differ
  llama.write(d.file("llama.gguf"));
  TinyModel own;
  own.arch = "gemma3";
  own.chat_template = "{{ own }}";
  own.write(d.file("own.gguf"));

  d.write_file("G", "FROM gemma.gguf\n");
  d.write_file("L", "FROM llama.gguf\n");
  d.write_file("O", "FROM own.gguf\n");
  d.write_file("M", "FROM own.gguf\nTEMPLATE {{ modelfile }}\n");
  for (const char* name : {"G", "L", "O", "M"}) ASSERT_EQ(d.kiln({"create", name, "-f", name}).exit_code, 0) << name;
  EXPECT_EQ(d.kiln({"show", "g", "--template"}).out, kiln::tmpl::builtin_chat_template("gemma3").value());
  EXPECT_EQ(d.kiln({"show", "l", "--template"}).out, "");
  EXPECT_EQ(d.kiln({"show", "o", "--template"}).out, "{{ own }}");
  EXPECT_EQ(d.kiln({"show", "m", "--template"}).out, "{{ modelfile }}");
}
