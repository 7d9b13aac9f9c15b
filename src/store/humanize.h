#pragma once
// Numbers and times the way Ollama prints them, so `kiln list` and `kiln show`
// read like `ollama list` and `ollama show`.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::store {

// Parameter counts: 268098176 -> "268.10M", 1500000000 -> "1.5B", 7000000000 -> "7B".
std::string human_number(uint64_t n);
// Sizes in decimal units: 253113024 -> "253 MB", 1500000 -> "1.5 MB", 999 -> "999 B".
std::string human_bytes(uint64_t bytes);
// Elapsed time: "Less than a second ago", "3 minutes ago", "2 weeks ago".
std::string human_time_ago(double seconds);

// Rows as left-aligned columns (Ollama's tablewriter look): every column but
// the last padded to its widest cell, columns joined by `gap`, each line
// prefixed with `indent` and ended with '\n'. Widths count UTF-8 code points.
std::string columns(const std::vector<std::vector<std::string>>& rows, std::string_view indent = "",
                    std::string_view gap = "    ");

}  // namespace kiln::store
