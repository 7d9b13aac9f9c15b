// libFuzzer target for the JSON a request carries: Ollama "options", a
// "format" JSON schema (converted to GBNF and used by the validator), and a
// schema "pattern" regular expression. Every stage must succeed or throw
// kiln::Error; what succeeds is checked for the invariants callers rely on:
// options survive to_json/apply_json, and every grammar the converter writes
// is accepted by the GBNF parser.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/grammar.h"
#include "engine/json_schema.h"
#include "engine/json_schema_validate.h"
#include "engine/options.h"

namespace {

using namespace kiln::engine;

void check(bool ok) {
  if (!ok) std::abort();
}

// A grammar the converter wrote must parse. The one rejection tolerated is
// left recursion: a repeated group that can match nothing ("(a*)+", valid
// ECMAScript) becomes a nullable repetition, which the GBNF parser refuses
// with a kiln::Error naming the rule (a known limitation, docs/fuzzing.md).
void parse_converted(const std::string& gbnf) {
  try {
    Grammar::parse(gbnf);
  } catch (const kiln::Error& e) {
    if (std::string_view(e.what()).find("left-recursive") == std::string_view::npos) throw;
  }
}

void fuzz_options(const nlohmann::json& object) {
  try {
    Options opts;
    std::vector<std::string> ignored;
    apply_json(opts, object, &ignored);
    const nlohmann::json written = to_json(opts);
    Options again;
    apply_json(again, written);  // must not throw: to_json writes valid options
    check(to_json(again) == written);
  } catch (const kiln::Error&) {
  }
}

void fuzz_schema(const nlohmann::ordered_json& schema) {
  std::string gbnf;
  try {
    gbnf = json_schema_to_gbnf(schema);
  } catch (const kiln::Error&) {
    return;
  }
  parse_converted(gbnf);
  try {
    (void)json_schema_validate(schema, nlohmann::ordered_json::object());
    (void)json_schema_validate(schema, schema);
  } catch (const kiln::Error&) {
  }
}

void fuzz_pattern(const std::string& pattern) {
  std::string gbnf;
  try {
    gbnf = json_pattern_to_gbnf(pattern);
  } catch (const kiln::Error&) {
    return;
  }
  parse_converted("root ::= " + gbnf + "\n");  // an expression: give it a rule
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz_pattern(text);
  const auto json = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return 0;
  fuzz_options(nlohmann::json(json));
  fuzz_schema(json);
  return 0;
}
