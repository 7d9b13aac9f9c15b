// libFuzzer target for the model store's text parsers: the same bytes are
// read as a Modelfile, a model name, a digest and a manifest. Each must
// either succeed or throw kiln::Error; anything else is a bug. What parses is
// checked for the invariants callers rely on (round trips, safe paths).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/error.h"
#include "store/digest.h"
#include "store/manifest.h"
#include "store/modelfile.h"
#include "store/name.h"

namespace {

using namespace kiln::store;

void check(bool ok) {
  if (!ok) std::abort();
}

void fuzz_modelfile(std::string_view text) {
  try {
    const Modelfile mf = Modelfile::parse(text);
    // modelfile_quote promises that parse reads a quoted value back unchanged.
    if (mf.system) {
      const Modelfile again = Modelfile::parse("FROM x\nSYSTEM " + modelfile_quote(*mf.system) + "\n");
      check(again.system == mf.system);
    }
  } catch (const kiln::Error&) {
  }
}

void fuzz_name(std::string_view text) {
  try {
    const ModelName name = ModelName::parse(text);
    // The four parts become directories: none may climb out of manifests/.
    for (const auto& part : name.manifest_path()) check(part != ".." && part != "." && !part.empty());
    check(!name.manifest_path().is_absolute());
    check(ModelName::parse(name.full()) == name);
    check(ModelName::parse(name.display()).equal_fold(name));
    check(ModelName::is_valid(text));
  } catch (const kiln::Error&) {
    check(!ModelName::is_valid(text));
  }
}

void fuzz_digest(std::string_view text) {
  try {
    const Digest d = Digest::parse(text);
    check(d.hex().size() == 64);
    check(Digest::parse(d.str()) == d && Digest::parse(d.file_name()) == d);
    check(Digest::is_valid(text));
  } catch (const kiln::Error&) {
    check(!Digest::is_valid(text));
  }
}

void fuzz_manifest(std::string_view text) {
  try {
    const Manifest m = Manifest::parse(text, "fuzz");
    // A parsed manifest serialises to JSON that parses to the same manifest.
    const Manifest again = Manifest::parse(m.to_json(), "fuzz-again");
    check(again.to_json() == m.to_json());
    check(again.blobs() == m.blobs());
    (void)m.total_size();
  } catch (const kiln::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz_modelfile(text);
  fuzz_name(text);
  fuzz_digest(text);
  fuzz_manifest(text);
  return 0;
}
