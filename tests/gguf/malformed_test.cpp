// Every file in tests/fixtures/gguf/malformed/ must be rejected with a
// FormatError whose message names the defect (phrases in EXPECTED.txt, written
// by tools/make_malformed_gguf.py). Also: every truncation of a valid file and
// random byte corruption must fail cleanly, never crash.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <random>

#include "gguf/gguf.h"

namespace kiln::gguf {
namespace {

const std::filesystem::path kDir = std::filesystem::path(KILN_FIXTURES) / "gguf";

std::vector<uint8_t> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::map<std::string, std::string> expected_phrases() {
  std::ifstream in(kDir / "malformed" / "EXPECTED.txt");
  std::map<std::string, std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.find(' ');
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

TEST(Malformed, EveryCorpusFileIsRejectedWithItsReason) {
  const auto phrases = expected_phrases();
  size_t checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kDir / "malformed")) {
    if (entry.path().extension() != ".gguf") continue;
    const std::string file = entry.path().filename().string();
    SCOPED_TRACE(file);
    ASSERT_TRUE(phrases.count(file)) << "no phrase for " << file << " in EXPECTED.txt";
    const std::string& phrase = phrases.at(file);
    // Both entry points: the mmap path and the in-memory path.
    try {
      File::open(entry.path());
      ADD_FAILURE() << "opened without error";
    } catch (const FormatError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(phrase), std::string::npos) << "message: " << msg << "\nwanted: " << phrase;
      EXPECT_NE(msg.find(file), std::string::npos) << "message does not name the file: " << msg;
      EXPECT_NE(msg.find("at byte "), std::string::npos) << msg;
    }
    const auto bytes = read_bytes(entry.path());
    try {
      File::parse(bytes, file);
      ADD_FAILURE() << "parsed without error";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    }
    ++checked;
  }
  EXPECT_EQ(checked, phrases.size()) << "EXPECTED.txt lists files that are missing";
  EXPECT_GE(checked, 30u);
}

TEST(Malformed, ValidBaseFileParses) {
  // The file every generated defect departs from: proves the defects, not the
  // base, are what the reader rejects.
  const File f = File::open(kDir / "valid" / "minimal.gguf");
  EXPECT_EQ(f.architecture(), "test");
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.tensors()[0].nbytes, 16u);
  EXPECT_EQ(f.tensors()[0].data[15], 15);
}

// Cutting a valid file anywhere before the end of its last tensor's data must
// fail; only the trailing padding after the last tensor is optional.
TEST(Malformed, EveryTruncationFails) {
  for (const char* name : {"minimal.gguf", "gguf_py_writer.gguf"}) {
    SCOPED_TRACE(name);
    const auto bytes = read_bytes(kDir / "valid" / name);
    const File whole = File::parse(bytes, name);
    uint64_t needed = whole.data_offset();
    for (const auto& t : whole.tensors()) needed = std::max(needed, whole.data_offset() + t.offset + t.nbytes);
    for (size_t n = 0; n < bytes.size(); ++n) {
      std::span<const uint8_t> prefix(bytes.data(), n);
      if (n < needed) {
        EXPECT_THROW(File::parse(prefix, name), FormatError) << "prefix of " << n << " bytes";
      } else {
        EXPECT_NO_THROW(File::parse(prefix, name)) << "prefix of " << n << " bytes";
      }
    }
  }
}

// Deterministic corruption: flip random bytes of valid files; every result
// must parse or throw FormatError, nothing else (run under ASan/UBSan in the
// sanitizer build; the libFuzzer target explores much further).
TEST(Malformed, RandomCorruptionNeverCrashes) {
  std::mt19937 rng(12345);
  size_t rejected = 0, accepted = 0;
  for (const char* name : {"minimal.gguf", "gguf_py_writer.gguf"}) {
    const auto original = read_bytes(kDir / "valid" / name);
    for (int round = 0; round < 3000; ++round) {
      auto bytes = original;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
      try {
        const File f = File::parse(bytes, name);
        for (const auto& t : f.tensors())  // every accepted tensor must lie inside the buffer
          ASSERT_LE(t.data + t.nbytes, bytes.data() + bytes.size()) << t.name;
        ++accepted;
      } catch (const FormatError&) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0u);
  EXPECT_GT(accepted, 0u);
}

}  // namespace
}  // namespace kiln::gguf
