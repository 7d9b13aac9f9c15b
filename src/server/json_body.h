#pragma once
// Request bodies as Ollama's handlers read them (Go's encoding/json into a
// struct): the body must be one JSON object; unknown fields are ignored; a
// field set to null counts as absent; a field of the wrong type is a 400 that
// names the field and both types. Every failure throws HttpError(400).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::server {

class JsonBody {
 public:
  // "missing request body" for an empty body (Go's io.EOF case), the parser's
  // message for malformed JSON, and a type error for anything but an object.
  static JsonBody parse(std::string_view body);
  explicit JsonBody(nlohmann::json object) : j_(std::move(object)) {}

  const nlohmann::json& json() const { return j_; }
  bool has(std::string_view key) const;  // present and not null

  std::optional<std::string> string(std::string_view key) const;
  std::optional<bool> boolean(std::string_view key) const;
  // The field when it is an object / array (nullptr when absent).
  const nlohmann::json* object(std::string_view key) const;
  const nlohmann::json* array(std::string_view key) const;
  // A string, or an array of strings (Ollama's `license`, `stop`).
  std::optional<std::vector<std::string>> strings(std::string_view key) const;

 private:
  const nlohmann::json* field(std::string_view key) const;
  nlohmann::json j_;
};

// "string", "number", "object"... for error messages.
std::string json_type_name(const nlohmann::json& v);
// A wrong-type error for `field` (400).
[[noreturn]] void throw_type_error(std::string_view field, std::string_view expected, const nlohmann::json& got);

}  // namespace kiln::server
