#pragma once
// Pieces every OpenAI translation shares (chat, completions, embeddings):
// type-checked reads of the request's fields, the sampling fields that map
// onto Ollama's `options`, ids, usage, finish reasons and token bytes.
//
// The layer is a translation over the native handlers (server/generation.h),
// as Ollama's openai package is over its own: an OpenAI request becomes the
// native request body, and the native chunks become OpenAI's objects. Every
// function here is pure, so the translation is unit-tested without a model.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::server::openai {

using ojson = nlohmann::ordered_json;

// The field when present and not null (JSON null counts as absent, as
// OpenAI's SDKs send it for unset optional fields).
const ojson* field(const ojson& object, std::string_view key);
// Throws HttpError 400: "invalid type for 'key': expected ..., got ...".
[[noreturn]] void type_error(std::string_view key, std::string_view expected, const ojson& got);
std::string type_name(const ojson& v);

std::optional<std::string> string_field(const ojson& object, std::string_view key);
std::optional<bool> bool_field(const ojson& object, std::string_view key);
std::optional<double> number_field(const ojson& object, std::string_view key);
// A JSON integer (or a float with no fraction, as Python clients may send 32.0).
std::optional<int64_t> integer_field(const ojson& object, std::string_view key);

// Parses a request body (400 for an empty body, malformed JSON or a
// non-object), keeping key order (tool schemas are rendered in it).
ojson parse_body(std::string_view body);

// "stop": a string or an array of strings (anything else is a 400).
std::optional<std::vector<std::string>> stop_field(const ojson& body);

// Sets Ollama's options from OpenAI's sampling fields: temperature and top_p
// (1.0 when absent: OpenAI's defaults, as Ollama's layer sets them), seed,
// frequency_penalty, presence_penalty, stop, and num_predict from
// `max_tokens_key` (the first present of the keys given).
void sampling_options(const ojson& body, std::initializer_list<std::string_view> max_tokens_keys, ojson& options);

// Refuses n / best_of above 1 (one choice per request).
void require_single_choice(const ojson& body);

// "chatcmpl-8316402917", "cmpl-...": a random number, as Ollama's ids.
std::string new_id(std::string_view prefix);
int64_t unix_now();

// {prompt_tokens, completion_tokens, total_tokens} from a final native chunk.
ojson usage(const ojson& final_chunk);

// OpenAI's finish_reason for a native done_reason: "length" stays, every
// other end ("stop", a cancelled or unloaded request) is "stop"; any tool
// call makes it "tool_calls".
std::string finish_reason(const ojson& final_chunk, bool tool_calls);

// The UTF-8 bytes of a token as OpenAI's `bytes` (a token may be part of a
// character, so the bytes are the truth and the text may not be).
ojson token_bytes(std::string_view text);

// OpenAI's error object for a message that arrives after the stream began.
ojson stream_error(const std::string& message);

}  // namespace kiln::server::openai
