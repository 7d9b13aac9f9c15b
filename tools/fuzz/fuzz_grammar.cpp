// libFuzzer target for the GBNF grammar parser and matcher. The input is
// "<grammar>\0<text>": the grammar must parse or throw kiln::Error; a grammar
// that parses is then run over the text byte by byte (accept, checkpoint,
// rewind), which must terminate and never touch memory it should not.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "engine/grammar.h"
#include "engine/grammar_matcher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const std::string_view gbnf = input.substr(0, split);
  const std::string_view text = split == std::string_view::npos ? std::string_view{} : input.substr(split + 1);
  try {
    auto grammar = kiln::engine::Grammar::parse(gbnf);
    kiln::engine::GrammarMatcher matcher(grammar);
    const auto start = matcher.checkpoint();
    for (const char c : text) {
      const auto b = static_cast<uint8_t>(c);
      const bool allowed = matcher.next_bytes().has(b);
      // next_bytes() and accept_byte() must agree.
      if (matcher.accept_byte(b) != allowed) std::abort();
      if (!allowed) break;
    }
    (void)matcher.is_complete();
    try {
      matcher.rewind(start);  // may be stale after compaction: an Error then
    } catch (const kiln::Error&) {
    }
    matcher.reset();
    (void)matcher.accept(text);
  } catch (const kiln::Error&) {
  }
  return 0;
}
