#pragma once
// A model identity for the KV hash chain that is stable across restarts and
// unique per weights: the prefix hashes (and so the disk tier's entries) of
// two files match only when their GGUF headers (metadata and tensor infos:
// names, shapes, types, offsets) and sizes are equal. Hashing the header and
// not the multi-GB tensor data keeps it to milliseconds; a GGUF whose data
// changed but whose header and size did not is not told apart (re-quantized
// files differ in types or size, fine-tunes in metadata as converters write
// it).
#include <cstdint>
#include <filesystem>
#include <string>

namespace kiln::kv::tier {

// "gguf-xxh3-128:<32 hex>:<file size>". header_bytes: where the tensor data
// starts (gguf::File::data_offset()). Throws kiln::Error when the file cannot
// be read.
std::string weights_identity(const std::filesystem::path& gguf_path, uint64_t header_bytes);

}  // namespace kiln::kv::tier
