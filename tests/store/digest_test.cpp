// sha256 digests (checked against the FIPS 180-2 test vectors) and the blob
// store: atomic writes, deduplication, imports, hostile digests.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "store/blob_store.h"
#include "store/digest.h"

namespace fs = std::filesystem;
using kiln::store::BlobStore;
using kiln::store::Digest;

namespace {

fs::path temp_dir(const std::string& tag) {
  fs::path p = fs::temp_directory_path() / ("kiln-store-test-" + tag + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

}  // namespace

TEST(Digest, Fips180Vectors) {
  EXPECT_EQ(kiln::store::sha256_of(std::string_view("")).hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(kiln::store::sha256_of(std::string_view("abc")).hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(kiln::store::sha256_of(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // One million 'a', fed in uneven pieces.
  kiln::store::Sha256 h;
  const std::string chunk(999, 'a');
  size_t left = 1000000;
  while (left) {
    const size_t n = std::min(left, chunk.size());
    h.update(chunk.data(), n);
    left -= n;
  }
  EXPECT_EQ(h.finish().hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Digest, ParseForms) {
  const std::string hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const Digest a = Digest::parse("sha256:" + hex);
  const Digest b = Digest::parse("sha256-" + hex);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.str(), "sha256:" + hex);
  EXPECT_EQ(a.file_name(), "sha256-" + hex);
  EXPECT_EQ(a.short_id(), "e3b0c44298fc");
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  EXPECT_EQ(Digest::parse("sha256:" + upper), a);  // folded to lower case
}

TEST(Digest, RejectsHostileOrMalformed) {
  const std::string hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const std::string bad[] = {
      "", "sha256:", "sha256:" + hex.substr(1), "sha256:" + hex + "0", "sha256:" + hex.substr(0, 63) + "g",
      "sha512:" + hex, "md5:" + hex, hex, "sha256/" + hex, "sha256:../../../etc/passwd",
      "sha256:" + hex.substr(0, 60) + "/../", "sha256:" + hex.substr(0, 63) + "\n",
      "sha256:" + std::string(64, '.'), "SHA256:" + hex, " sha256:" + hex, "sha256:" + hex + " ",
      std::string("sha256:") + std::string(63, 'a') + '\0',
  };
  for (const auto& s : bad) {
    EXPECT_FALSE(Digest::is_valid(s)) << s;
    EXPECT_THROW(Digest::parse(s), kiln::Error) << s;
  }
}

TEST(Digest, FileHashMatchesBytesHash) {
  const fs::path dir = temp_dir("hashfile");
  std::string data(3 << 20, '\0');
  std::mt19937 rng(7);
  for (char& c : data) c = static_cast<char>(rng());
  write_bytes(dir / "f", data);
  uint64_t last_done = 0, last_total = 0;
  const Digest d = kiln::store::sha256_of_file(dir / "f", [&](uint64_t done, uint64_t total) {
    last_done = done;
    last_total = total;
  });
  EXPECT_EQ(d, kiln::store::sha256_of(std::string_view(data)));
  EXPECT_EQ(last_done, data.size());
  EXPECT_EQ(last_total, data.size());
  EXPECT_THROW(kiln::store::sha256_of_file(dir / "missing"), kiln::Error);
  fs::remove_all(dir);
}

TEST(BlobStore, PutIsContentAddressedAndDeduplicated) {
  const fs::path root = temp_dir("put");
  BlobStore blobs(root);
  const auto first = blobs.put(std::string_view("hello"));
  EXPECT_FALSE(first.existed);
  EXPECT_EQ(first.size, 5u);
  EXPECT_EQ(first.digest.hex(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");  // sha256("hello")
  EXPECT_TRUE(fs::is_regular_file(root / "blobs" / first.digest.file_name()));
  EXPECT_EQ(blobs.read_text(first.digest), "hello");
  const auto again = blobs.put(std::string_view("hello"));
  EXPECT_TRUE(again.existed);
  EXPECT_EQ(again.digest, first.digest);
  EXPECT_EQ(blobs.list().size(), 1u);
  // No temporary file is left behind.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(root / "blobs")) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
  fs::remove_all(root);
}

TEST(BlobStore, ImportFileCopiesVerifiesAndDeduplicates) {
  const fs::path root = temp_dir("import");
  std::string data(5 << 20, '\0');
  std::mt19937 rng(11);
  for (char& c : data) c = static_cast<char>(rng());
  write_bytes(root / "model.gguf", data);
  BlobStore blobs(root / "store");
  std::vector<std::string> phases;
  const auto stored = blobs.import_file(root / "model.gguf", [&](std::string_view phase, uint64_t, uint64_t) {
    if (phases.empty() || phases.back() != phase) phases.emplace_back(phase);
  });
  EXPECT_FALSE(stored.existed);
  EXPECT_EQ(stored.size, data.size());
  EXPECT_EQ(stored.digest, kiln::store::sha256_of(std::string_view(data)));
  EXPECT_EQ(kiln::store::sha256_of_file(blobs.path(stored.digest)), stored.digest);
  EXPECT_EQ((std::vector<std::string>{"copying"}), phases);
  // The blob is an independent copy: changing the source does not change it.
  write_bytes(root / "model.gguf", "changed");
  EXPECT_EQ(kiln::store::sha256_of_file(blobs.path(stored.digest)), stored.digest);
  write_bytes(root / "model.gguf", data);
  const auto again = blobs.import_file(root / "model.gguf");
  EXPECT_TRUE(again.existed);
  EXPECT_THROW(blobs.import_file(root / "nope.gguf"), kiln::Error);
  EXPECT_THROW(blobs.import_file(root), kiln::Error);  // a directory
  fs::remove_all(root);
}

TEST(BlobStore, AdoptAndRemove) {
  const fs::path root = temp_dir("adopt");
  BlobStore blobs(root);
  blobs.put(std::string_view("x"));  // creates the directory
  const fs::path tmp = blobs.temp_path();
  write_bytes(tmp, "payload");
  const auto adopted = blobs.adopt_file(tmp);
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_EQ(blobs.read_text(adopted.digest), "payload");
  const fs::path dup = blobs.temp_path();
  write_bytes(dup, "payload");
  EXPECT_TRUE(blobs.adopt_file(dup).existed);
  EXPECT_FALSE(fs::exists(dup));
  EXPECT_THROW(blobs.adopt_file(root / "elsewhere"), kiln::Error);
  blobs.remove(adopted.digest);
  EXPECT_FALSE(blobs.has(adopted.digest));
  EXPECT_THROW(blobs.read_text(adopted.digest), kiln::Error);
  // Foreign and temporary files are never listed as blobs.
  write_bytes(root / "blobs" / "sha256-short", "x");
  write_bytes(root / "blobs" / ".tmp-junk", "x");
  EXPECT_EQ(blobs.list().size(), 1u);
  fs::remove_all(root);
}
