// libFuzzer target for the GGUF reader: any byte string must either parse or
// throw kiln::Error (FormatError); anything else (a crash, a sanitizer report,
// an escaped exception of another type, a tensor outside the buffer) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "gguf/gguf.h"

namespace {

// Reads what a consumer of a parsed file would read, so the sanitizers see
// every pointer the parser hands out.
void exercise(const kiln::gguf::File& f, const uint8_t* data, size_t size) {
  size_t sink = 0;
  for (const auto& [key, value] : f.metadata()) sink += key.size() + value.to_display(4).size();
  for (const auto& t : f.tensors()) {
    if (t.data < data || t.nbytes > size || t.data + t.nbytes > data + size) std::abort();
    if (t.nbytes) sink += t.data[0] + t.data[t.nbytes - 1];
    sink += static_cast<size_t>(t.nelements() + t.nrows());
    if (f.tensor(t.name) == nullptr) std::abort();
  }
  try {
    sink += f.architecture().size();
    sink += static_cast<size_t>(f.get_int("general.alignment", 0));
  } catch (const kiln::Error&) {
  }
  static volatile size_t keep;  // keeps the reads from being optimized away
  keep = sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const kiln::gguf::File f = kiln::gguf::File::parse({data, size}, "fuzz");
    exercise(f, data, size);
  } catch (const kiln::Error&) {
    // Rejecting malformed input with a message is the expected outcome.
  }
  return 0;
}
