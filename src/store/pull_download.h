#pragma once
// Resumable, verified downloads into the blob store.
//
// Bytes are appended to a partial file (blobs/sha256-<hex>-partial for a
// registry blob) and hashed as they arrive; a broken connection is retried
// with "Range: bytes=<size>-" from where the file ends, and a later pull
// resumes the same way (the bytes already there are hashed once on start).
// Only a file whose sha256 matches is renamed into place, so the store never
// holds a blob that is not what its name says; a mismatch deletes the partial
// file. The partial file is locked (flock) while a download owns it.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>

#include "store/blob_store.h"
#include "store/manifest.h"
#include "store/registry.h"
#include "store/registry_http.h"

namespace kiln::store {

struct DownloadOptions {
  int retries = 3;  // further attempts after a network failure, each resuming
  std::chrono::milliseconds retry_delay{500};  // doubled after each failure
  std::stop_token stop;
};

// (completed, total) in bytes; total is 0 while unknown.
using DownloadProgress = std::function<void(uint64_t completed, uint64_t total)>;

struct DownloadedFile {
  Digest digest;  // sha256 of the whole file
  uint64_t size = 0;
  uint64_t resumed_from = 0;  // bytes that were already in the partial file and kept
};

// Downloads `request.url` into `partial`, continuing from its current size.
// `expected_size`, when known, bounds the file (a longer answer is an error).
// `validator_file`, when not empty, keeps the answer's ETag (or
// Last-Modified) next to the partial file; a resume sends it as If-Range so a
// file that changed on the server restarts from zero instead of being spliced. Throws kiln::Error naming the URL on an
// HTTP error, a network failure after the retries (the partial file is kept),
// a full disk, or cancellation ("pull cancelled", the partial file is kept).
DownloadedFile download_to_partial(const HttpGet& request, const std::filesystem::path& partial,
                                   std::optional<uint64_t> expected_size,
                                   const std::filesystem::path& validator_file, const DownloadOptions& options,
                                   const DownloadProgress& progress);

// The partial file of a registry blob: blobs/sha256-<hex>-partial.
std::filesystem::path partial_blob_path(const BlobStore& blobs, const Digest& digest);

// Fetches one layer (or the config) of a manifest from the registry into the
// store. Returns false when the blob was already stored (nothing fetched).
// Throws "digest mismatch ..." when the bytes do not hash to layer.digest.
bool download_blob(BlobStore& blobs, Registry& registry, const Layer& layer, const DownloadOptions& options,
                   const DownloadProgress& progress);

// Free bytes in `dir` for an unprivileged writer.
uint64_t free_disk_bytes(const std::filesystem::path& dir);

}  // namespace kiln::store
