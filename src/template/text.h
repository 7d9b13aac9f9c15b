#pragma once
// Python str semantics on UTF-8 strings. Python indexes, slices, measures and
// strips strings by code point, with Unicode's notion of whitespace; a chat
// template that trims or slices a message must give the same bytes here.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::tmpl::text {

// Decodes UTF-8; an invalid byte decodes as itself (U+0080..U+00FF range is
// never produced for valid input) so that malformed input never throws.
std::u32string decode(std::string_view s);
std::string encode(std::u32string_view s);
void append_utf8(std::string& out, char32_t cp);
int64_t length(std::string_view s);  // code points

// Python's str.isspace() for one code point.
bool is_space(char32_t cp);

// str.strip/lstrip/rstrip: `chars` unset strips whitespace.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);

// str.upper/lower/title/capitalize (ASCII, Latin-1, Greek and Cyrillic letters).
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);
std::string capitalize(std::string_view s);

// str.split(sep=None, maxsplit=-1): sep unset splits on runs of whitespace.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
// str.splitlines() (without keepends).
std::vector<std::string> splitlines(std::string_view s);
std::string replace(std::string_view s, std::string_view old, std::string_view replacement, int64_t count);

// Python's repr() of a str: quotes chosen as Python does, escapes for
// control characters, printable non-ASCII kept as is.
std::string repr(std::string_view s);

}  // namespace kiln::tmpl::text
