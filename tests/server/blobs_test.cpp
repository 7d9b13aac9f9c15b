// HEAD/POST /api/blobs/:digest: verified, streamed uploads.
#include <regex>

#include "server_fixture.h"

using namespace kiln::server_test;

namespace {

std::string digest_of(const std::string& bytes) { return kiln::store::sha256_of(bytes).str(); }

}  // namespace

TEST(Blobs, UploadVerifiesDigestAndStoresOnce) {
  TestServer s("blobs");
  auto c = s.client();
  const std::string bytes = "some blob bytes";
  const std::string d = digest_of(bytes);

  auto r = c->Head("/api/blobs/" + d);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);

  // The wrong bytes for the digest: 400, nothing stored.
  r = c->Post("/api/blobs/" + d, "other bytes", "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("digest mismatch"), std::string::npos) << r->body;
  EXPECT_EQ(c->Head("/api/blobs/" + d)->status, 404);

  r = c->Post("/api/blobs/" + d, bytes, "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(c->Head("/api/blobs/" + d)->status, 200);
  EXPECT_EQ(slurp(s.store() / "blobs" / ("sha256-" + d.substr(7))), bytes);
  // Both spellings of a digest name the same blob.
  EXPECT_EQ(c->Head("/api/blobs/sha256-" + d.substr(7))->status, 200);

  // Uploading it again is answered 200 without storing anything new.
  r = c->Post("/api/blobs/" + d, bytes, "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  // No temporary files remain.
  for (const auto& e : fs::directory_iterator(s.store() / "blobs"))
    EXPECT_EQ(e.path().filename().string().rfind(".tmp", 0), std::string::npos) << e.path();
}

TEST(Blobs, HostileDigestsAreRejected) {
  TestServer s("blobs-hostile");
  auto c = s.client();
  for (const std::string bad : std::vector<std::string>{"sha256:abc", "../../etc/passwd", "sha256:..%2f..%2fetc%2fpasswd",
                                "sha256:" + std::string(63, 'a') + "/", "md5:" + std::string(32, 'a'),
                                "sha256:" + std::string(64, 'g'), "sha256:" + std::string(65, 'a')}) {
    auto r = c->Post("/api/blobs/" + bad, "x", "application/octet-stream");
    ASSERT_TRUE(r) << bad;
    // A digest with a slash is not one path segment: no such route (404).
    EXPECT_TRUE(r->status == 400 || r->status == 404) << bad << " -> " << r->status;
    r = c->Head("/api/blobs/" + bad);
    ASSERT_TRUE(r) << bad;
    EXPECT_TRUE(r->status == 400 || r->status == 404) << bad;
  }
  // Nothing was written outside (or inside) the store.
  EXPECT_FALSE(fs::exists(s.store() / "blobs") && !fs::is_empty(s.store() / "blobs"));
  EXPECT_EQ(error_of(c->Post("/api/blobs/sha256:abc", "x", "text/plain")), "invalid digest format");
}

TEST(Blobs, LargeUploadIsStreamedPastTheJsonLimit) {
  // A 1 MiB JSON limit and a 6 MiB blob sent in 64 KiB pieces (chunked):
  // the upload is not bound by the body limit because it never sits in memory.
  TestServer s("blobs-large", size_t{1} << 20);
  std::string bytes(size_t{6} << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 131) >> 7);
  const std::string d = digest_of(bytes);
  auto c = s.client();
  auto r = c->Post(
      "/api/blobs/" + d,
      [&](size_t offset, httplib::DataSink& sink) {
        const size_t n = std::min<size_t>(64 << 10, bytes.size() - offset);
        sink.write(bytes.data() + offset, n);
        if (offset + n == bytes.size()) sink.done();
        return true;
      },
      "application/octet-stream");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(fs::file_size(s.store() / "blobs" / ("sha256-" + d.substr(7))), bytes.size());
}
