#pragma once
// A small vocabulary shaped like a real BPE one for JSON: every printable
// ASCII byte, multi-byte pieces that cross JSON structure (`"}`, `":`, `],`),
// whitespace runs, keywords, numbers, partial UTF-8 characters, plus an
// end-of-generation token and a control token that grammars never allow.
#include <string>
#include <vector>

namespace kiln::engine {

struct ToyVocab {
  std::vector<std::string> pieces;
  std::vector<bool> matchable;
  std::vector<int32_t> eog;
};

inline ToyVocab toy_vocab() {
  ToyVocab v;
  auto add = [&](std::string p, bool matchable = true) {
    v.pieces.push_back(std::move(p));
    v.matchable.push_back(matchable);
  };
  for (int c = 0x20; c < 0x7F; ++c) add(std::string(1, static_cast<char>(c)));
  for (const char* p : {"{\"", "\":", "\",", "\"}", "\"]", "\":\"", "\", \"", "},", "}}", "]}", "],", "[{", "{}", "[]",
                        "true", "false", "null", "tr", "ue", "nu", "ll", "fa", "lse", "  ", "    ", "\n", "\n  ", "\n    ",
                        "\t", ": ", ", ", "12", "345", "0.", ".5", "e+", "E-", "-1", "00", "name", "age", "tags", "ok",
                        "\"name", "\"age\":", "\\\"", "\\n", "\\u00", "e9", "é", "\xC3", "\xA9", "\xE4\xB8", "\xAD",
                        "中", "😀", "\xF0\x9F", "\x98\x80", "abc", "b\"c", "x\"", "a\"", "\"a", "\"b", "\"é\""})
    add(p);
  v.eog.push_back(static_cast<int32_t>(v.pieces.size()));
  add("<eos>", false);
  add("<|control|>", false);  // never allowed: not matchable, not an end token
  add("", false);
  return v;
}

}  // namespace kiln::engine
