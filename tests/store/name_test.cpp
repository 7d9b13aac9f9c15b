// Model names: Ollama's defaults and rules, and hostile names that must never
// become a path outside the store.
#include <gtest/gtest.h>

#include "core/error.h"
#include "store/name.h"

using kiln::store::ModelName;

TEST(ModelName, FillsOllamaDefaults) {
  const auto n = ModelName::parse("qwen2.5:0.5b");
  EXPECT_EQ(n.host(), "registry.ollama.ai");
  EXPECT_EQ(n.ns(), "library");
  EXPECT_EQ(n.model(), "qwen2.5");
  EXPECT_EQ(n.tag(), "0.5b");
  EXPECT_EQ(n.full(), "registry.ollama.ai/library/qwen2.5:0.5b");
  EXPECT_EQ(n.display(), "qwen2.5:0.5b");
  EXPECT_EQ(n.manifest_path(), std::filesystem::path("registry.ollama.ai/library/qwen2.5/0.5b"));
}

TEST(ModelName, MissingTagIsLatest) {
  EXPECT_EQ(ModelName::parse("gemma3").tag(), "latest");
  EXPECT_EQ(ModelName::parse("gemma3").display(), "gemma3:latest");
}

TEST(ModelName, UserNamespace) {
  const auto n = ModelName::parse("alice/coder:7b-q4");
  EXPECT_EQ(n.host(), "registry.ollama.ai");
  EXPECT_EQ(n.ns(), "alice");
  EXPECT_EQ(n.model(), "coder");
  EXPECT_EQ(n.display(), "alice/coder:7b-q4");
}

TEST(ModelName, FullNameWithHostAndPort) {
  const auto n = ModelName::parse("example.com:5000/team/model:v1.2");
  EXPECT_EQ(n.host(), "example.com:5000");
  EXPECT_EQ(n.ns(), "team");
  EXPECT_EQ(n.model(), "model");
  EXPECT_EQ(n.tag(), "v1.2");
  EXPECT_EQ(n.display(), "example.com:5000/team/model:v1.2");
  // A port without a tag: the ':' before the last '/' belongs to the host.
  EXPECT_EQ(ModelName::parse("localhost:8080/ns/m").tag(), "latest");
}

TEST(ModelName, UrlSchemeIsDropped) {
  EXPECT_EQ(ModelName::parse("https://example.com/ns/m:t").full(), "example.com/ns/m:t");
}

TEST(ModelName, CaseInsensitiveEquality) {
  EXPECT_TRUE(ModelName::parse("Qwen2.5:0.5B").equal_fold(ModelName::parse("qwen2.5:0.5b")));
  EXPECT_TRUE(ModelName::parse("REGISTRY.OLLAMA.AI/Library/x").equal_fold(ModelName::parse("x:LATEST")));
  EXPECT_FALSE(ModelName::parse("a:1").equal_fold(ModelName::parse("a:2")));
  // Default host/namespace are recognised without regard to case when displaying.
  EXPECT_EQ(ModelName::parse("Registry.Ollama.AI/Library/m:t").display(), "m:t");
}

TEST(ModelName, LengthLimits) {
  EXPECT_NO_THROW(ModelName::parse(std::string(80, 'a')));
  EXPECT_THROW(ModelName::parse(std::string(81, 'a')), kiln::Error);
  EXPECT_NO_THROW(ModelName::parse("m:" + std::string(80, 't')));
  EXPECT_THROW(ModelName::parse("m:" + std::string(81, 't')), kiln::Error);
  EXPECT_THROW(ModelName::parse(std::string(80, 'n').append("x/m")), kiln::Error);
  EXPECT_NO_THROW(ModelName::parse(std::string(350, 'h') + "/ns/m"));
  EXPECT_THROW(ModelName::parse(std::string(351, 'h') + "/ns/m"), kiln::Error);
}

TEST(ModelName, CharacterRules) {
  EXPECT_NO_THROW(ModelName::parse("_private-model_1.0:tag_2.1-x"));
  EXPECT_THROW(ModelName::parse("-leading-dash"), kiln::Error);
  EXPECT_THROW(ModelName::parse(".hidden"), kiln::Error);
  EXPECT_THROW(ModelName::parse("model:.tag"), kiln::Error);
  EXPECT_THROW(ModelName::parse("name.space/model"), kiln::Error);  // no '.' in a namespace
  EXPECT_THROW(ModelName::parse("ns/mo:del/x"), kiln::Error);
  EXPECT_THROW(ModelName::parse("a b"), kiln::Error);
  EXPECT_THROW(ModelName::parse("model@sha256-abc"), kiln::Error);
  EXPECT_THROW(ModelName::parse(""), kiln::Error);
  EXPECT_THROW(ModelName::parse("model:"), kiln::Error);
  EXPECT_THROW(ModelName::parse(":tag"), kiln::Error);
}

TEST(ModelName, HostileNamesNeverParse) {
  const std::vector<std::string> hostile = {
      std::string("x\0y", 3), "../../etc/passwd", "a/../../b", "..", "../x", "x/..", "x/../y:z", "./x", "x/.", "%2e%2e",
      "%2e%2e/%2e%2e/etc/passwd", "/etc/passwd", "/abs", "a//b", "a/b/c/d", "a/b/c/d/e", "h/../m",
      "a\\..\\b", "..\\..\\x", "m:../../x", "m:..", "m:a/b", "a..b", "host..x/ns/m", "x\n",
      "nul\x01", "m:t\n", "\xc3\xa9t\xc3\xa9", "~/x", "~root", "x;rm -rf", "$(id)", "`id`",
  };
  for (const std::string& s : hostile) {
    EXPECT_THROW(ModelName::parse(s), kiln::Error) << "accepted hostile name: " << s;
    EXPECT_FALSE(ModelName::is_valid(s)) << s;
  }
  // Every part that does parse is a single plain path component.
  for (const char* ok : {"a", "a.b", "a-b_c", "h.io:1/n/m:t"}) {
    const auto n = ModelName::parse(ok);
    for (const auto& part : n.manifest_path()) {
      EXPECT_NE(part, "..");
      EXPECT_NE(part, ".");
      EXPECT_FALSE(part.is_absolute());
    }
  }
}

TEST(ModelName, FromPartsValidatesEachPart) {
  EXPECT_NO_THROW(ModelName::from_parts("registry.ollama.ai", "library", "m", "t"));
  EXPECT_THROW(ModelName::from_parts("..", "library", "m", "t"), kiln::Error);
  EXPECT_THROW(ModelName::from_parts("h", "a/b", "m", "t"), kiln::Error);
  EXPECT_THROW(ModelName::from_parts("h", "n", "m", ".tmp-1"), kiln::Error);
}

TEST(ModelName, ErrorsNameTheBadPart) {
  try {
    ModelName::parse("ok/bad!model");
    FAIL();
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'!'"), std::string::npos) << e.what();
  }
}
