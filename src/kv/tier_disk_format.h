#pragma once
// On-disk format of one KV block in the disk tier: a 96-byte header and the
// block's bytes exactly as the pool holds them (BlockLayout), so restoring is
// one read into pool memory.
//
//   magic "KILNKVB\0" | version | group | block hash | parent hash | depth |
//   layout fingerprint | payload bytes | payload checksum (XXH3-64) |
//   header checksum (XXH3-64 of the bytes before it)
//
// A file is written under a temporary name and renamed into place, so a
// crash mid-write leaves at most a "*.tmp" file (removed at startup), never a
// visible half entry. Anything that does not verify on read (magic, version,
// checksums, sizes, layout, hash) is treated as a miss and removed.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>

#include "kv/kv_config.h"
#include "kv/kv_types.h"

namespace kiln::kv::tier {

inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kHeaderBytes = 96;

// One entry: the block that holds a prefix (its hash) in one layer group.
struct EntryKey {
  BlockHash hash;
  uint32_t group = 0;
  friend bool operator==(const EntryKey&, const EntryKey&) = default;
};
struct EntryKeyHasher {
  size_t operator()(const EntryKey& k) const { return size_t(k.hash.lo ^ (k.hash.hi * 31) ^ k.group); }
};

struct EntryHeader {
  EntryKey key;
  BlockHash parent;            // hash of the previous block of the chain (model root for depth 0)
  uint32_t depth = 0;          // index of the block in its chain: the prefix ends at (depth+1)*block_size
  uint64_t layout_fingerprint = 0;
  uint64_t payload_bytes = 0;
  uint64_t payload_checksum = 0;
};

// Everything that changes what a block's bytes mean: element type, block
// size, the group's layout and window. Equal hashes with a different
// fingerprint (an old kiln, a changed layout) must not be used.
uint64_t layout_fingerprint(const CacheConfig& config, int group);

// File name of an entry inside the tier's directory: 32 hex digits of the
// hash, the group, ".kvb". Temporary files end in ".tmp".
std::string entry_file_name(const EntryKey& key);
bool is_temp_file_name(const std::string& name);
bool is_entry_file_name(const std::string& name);

// Bytes an entry takes on disk: header + payload rounded up to 4 KiB (the
// filesystem's allocation unit), the amount the budget accounts.
uint64_t entry_disk_bytes(uint64_t payload_bytes);

// Writes header + payload to dir/<name>.tmp, optionally fsyncs it, and
// renames it to dir/<name>. Throws kiln::Error (the temporary file removed)
// when any step fails.
void write_entry(const std::filesystem::path& dir, const EntryHeader& header, std::span<const uint8_t> payload,
                 bool fsync_file);

// Why a file was rejected (or Ok).
enum class ReadStatus { Ok, Missing, Corrupt };

// Reads and checks only the header (startup scan): magic, version, header
// checksum, file size == header + payload, expected fingerprint.
ReadStatus read_header(const std::filesystem::path& file, uint64_t expected_fingerprint, EntryHeader& out);

// Reads a whole entry into dst (dst.size() must be the expected payload
// size) and verifies header fields against key/fingerprint and the payload
// checksum. dst may be partly overwritten when the result is not Ok.
ReadStatus read_entry(const std::filesystem::path& file, const EntryKey& key, uint64_t expected_fingerprint,
                      std::span<uint8_t> dst);

}  // namespace kiln::kv::tier
