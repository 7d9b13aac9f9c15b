#pragma once
// Splits a template into text and tag tokens exactly as Jinja's lexer does
// with transformers' settings (trim_blocks, lstrip_blocks, no trailing
// newline kept): whitespace control decides the bytes of every chat prompt,
// so these rules are reproduced rule by rule, not approximated.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::tmpl {

enum class TokenType { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, End };

struct Token {
  TokenType type;
  std::string text;  // text data, name, decoded string literal, or operator
  int64_t integer = 0;
  double number = 0;
  int line = 1;
  int column = 1;
};

// Throws TemplateError (with line and column) on malformed input.
std::vector<Token> tokenize(std::string_view source);

}  // namespace kiln::tmpl
