// The OpenAI chat translation without a server: request -> native /api/chat
// body, native chunks -> chat.completion(.chunk) objects.
#include <gtest/gtest.h>

#include "server/http_error.h"
#include "server/openai_chat.h"

using kiln::server::HttpError;
using namespace kiln::server::openai;

namespace {

ojson J(const char* text) { return ojson::parse(text); }

// The status and message of the HttpError `f` throws (0, "" when none).
template <class F>
std::pair<int, std::string> error_of(F f) {
  try {
    f();
  } catch (const HttpError& e) {
    return {e.status(), e.what()};
  }
  return {0, ""};
}

}  // namespace

TEST(OpenAIChatRequest, FieldsMapOntoTheNativeBody) {
  const ojson body = J(R"({
    "model": "gemma3", "stream": true, "stream_options": {"include_usage": true},
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    "max_tokens": 32, "temperature": 0.2, "top_p": 0.5, "seed": 7, "stop": "END",
    "frequency_penalty": 0.1, "presence_penalty": 0.3, "user": "ignored", "n": 1})");
  const ChatTranslation t = chat_request(body);
  EXPECT_TRUE(t.stream);
  EXPECT_TRUE(t.include_usage);
  EXPECT_EQ(t.native["model"], "gemma3");
  EXPECT_EQ(t.native["messages"], J(R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])"));
  EXPECT_EQ(t.native["options"], J(R"({"num_predict": 32, "temperature": 0.2, "top_p": 0.5, "seed": 7,
                                       "frequency_penalty": 0.1, "presence_penalty": 0.3, "stop": ["END"]})"));
  EXPECT_FALSE(t.native.contains("format"));
  EXPECT_FALSE(t.native.contains("tools"));
  EXPECT_FALSE(t.native.contains("logprobs"));
}

TEST(OpenAIChatRequest, DefaultsAreOpenAIs) {
  // temperature and top_p default to 1 (OpenAI's defaults, as Ollama's layer
  // sets them); no num_predict limit; not streamed.
  const ChatTranslation t = chat_request(J(R"({"model": "m", "messages": [{"role": "user", "content": "x"}]})"));
  EXPECT_FALSE(t.stream);
  EXPECT_FALSE(t.include_usage);
  EXPECT_EQ(t.native["options"], J(R"({"temperature": 1.0, "top_p": 1.0})"));
  EXPECT_EQ(t.native["stream"], false);
}

TEST(OpenAIChatRequest, MaxCompletionTokensWinsOverMaxTokens) {
  const ChatTranslation t = chat_request(
      J(R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 9, "max_completion_tokens": 4})"));
  EXPECT_EQ(t.native["options"]["num_predict"], 4);
  EXPECT_EQ(chat_request(J(R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 9.0})"))
                .native["options"]["num_predict"],
            9);
}

TEST(OpenAIChatRequest, StopListAndBadStop) {
  const ChatTranslation t =
      chat_request(J(R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": ["a", "b"]})"));
  EXPECT_EQ(t.native["options"]["stop"], J(R"(["a", "b"])"));
  auto [status, msg] =
      error_of([] { chat_request(J(R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": [1]})")); });
  EXPECT_EQ(status, 400);
  EXPECT_NE(msg.find("stop"), std::string::npos) << msg;
}

TEST(OpenAIChatRequest, ContentPartsJoinTextAndCarryImages) {
  const ChatTranslation t = chat_request(J(R"({"model": "m", "messages": [{"role": "user", "content": [
      {"type": "text", "text": "one"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
      {"type": "text", "text": "two"}]}]})"));
  EXPECT_EQ(t.native["messages"][0], J(R"({"role": "user", "content": "one\ntwo", "images": ["iVBORw0K"]})"));
}

TEST(OpenAIChatRequest, BadImagesAndPartsAre400) {
  for (const char* part : {R"({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}})",
                           R"({"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lG"}})",
                           R"({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}})",
                           R"({"type": "input_audio", "input_audio": {"data": "", "format": "wav"}})",
                           R"({"type": "text"})", R"("just a string")"}) {
    ojson body = J(R"({"model": "m", "messages": [{"role": "user", "content": []}]})");
    body["messages"][0]["content"].push_back(J(part));
    EXPECT_EQ(error_of([&] { chat_request(body); }).first, 400) << part;
  }
}

TEST(OpenAIChatRequest, MessagesAreRequiredAndChecked) {
  EXPECT_EQ(error_of([] { chat_request(J(R"({"model": "m"})")); }).first, 400);
  EXPECT_EQ(error_of([] { chat_request(J(R"({"model": "m", "messages": []})")); }).second,
            "[] is too short - 'messages'");
  EXPECT_EQ(error_of([] { chat_request(J(R"({"model": "m", "messages": "hi"})")); }).first, 400);
  EXPECT_EQ(error_of([] { chat_request(J(R"({"model": "m", "messages": [{"content": "x"}]})")); }).first, 400);
  EXPECT_EQ(error_of([] { chat_request(J(R"({"model": "m", "messages": [{"role": "user"}]})")); }).first, 400);
  EXPECT_EQ(error_of([] { chat_request(J(R"({"model": "m", "messages": [{"role": "user", "content": 5}]})")); }).first,
            400);
  EXPECT_EQ(
      error_of([] { chat_request(J(R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2})")); })
          .first,
      400);
  EXPECT_EQ(error_of([] {
              chat_request(J(R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0})"));
            }).first,
            400);
  EXPECT_EQ(error_of([] {
              chat_request(J(R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"})"));
            }).first,
            400);
}

TEST(OpenAIChatRequest, ToolHistoryBecomesNativeToolCalls) {
  const ChatTranslation t = chat_request(J(R"({"model": "m", "messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
          "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"c\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "22"}]})"));
  const ojson& m = t.native["messages"];
  EXPECT_EQ(m[1], J(R"({"role": "assistant", "content": "", "tool_calls": [{"id": "call_1",
      "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}}]})"));
  EXPECT_EQ(m[2], J(R"({"role": "tool", "content": "22", "tool_name": "get_weather", "tool_call_id": "call_1"})"));
  // The arguments keep the model's key order.
  EXPECT_EQ(m[1]["tool_calls"][0]["function"]["arguments"].begin().key(), "city");

  auto [status, msg] = error_of([] {
    chat_request(J(R"({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]})"));
  });
  EXPECT_EQ(status, 400);
  EXPECT_EQ(msg, "invalid tool call arguments");
}

TEST(OpenAIChatRequest, ToolsAndToolChoice) {
  const char* base = R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [
      {"type": "function", "function": {"name": "a", "parameters": {"type": "object", "properties": {}}}},
      {"type": "function", "function": {"name": "b"}}]})";
  EXPECT_EQ(chat_request(J(base)).native["tools"].size(), 2u);
  ojson body = J(base);
  body["tool_choice"] = "none";
  EXPECT_FALSE(chat_request(body).native.contains("tools"));
  body["tool_choice"] = "required";
  EXPECT_EQ(chat_request(body).native["tools"].size(), 2u);
  body["tool_choice"] = J(R"({"type": "function", "function": {"name": "b"}})");
  const ojson tools = chat_request(body).native["tools"];
  ASSERT_EQ(tools.size(), 1u);
  EXPECT_EQ(tools[0]["function"]["name"], "b");
  body["tool_choice"] = J(R"({"type": "function", "function": {"name": "zzz"}})");
  EXPECT_EQ(error_of([&] { chat_request(body); }).first, 400);
  body["tool_choice"] = "sometimes";
  EXPECT_EQ(error_of([&] { chat_request(body); }).first, 400);
  body.erase("tool_choice");
  body["tools"] = J(R"([{"type": "function"}])");
  EXPECT_EQ(error_of([&] { chat_request(body); }).first, 400);
}

TEST(OpenAIChatRequest, ResponseFormat) {
  ojson body = J(R"({"model": "m", "messages": [{"role": "user", "content": "x"}]})");
  body["response_format"] = J(R"({"type": "text"})");
  EXPECT_FALSE(chat_request(body).native.contains("format"));
  body["response_format"] = J(R"({"type": "json_object"})");
  EXPECT_EQ(chat_request(body).native["format"], "json");
  body["response_format"] = J(R"({"type": "json_schema", "json_schema": {"name": "city", "strict": true,
      "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}})");
  EXPECT_EQ(chat_request(body).native["format"],
            J(R"({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})"));
  body["response_format"] = J(R"({"type": "json_schema"})");
  EXPECT_EQ(error_of([&] { chat_request(body); }).first, 400);
  body["response_format"] = J(R"({"type": "yaml"})");
  EXPECT_EQ(error_of([&] { chat_request(body); }).first, 400);
}

TEST(OpenAIChatRequest, ReasoningEffortAndLogprobs) {
  ojson body = J(R"({"model": "m", "messages": [{"role": "user", "content": "x"}]})");
  body["reasoning_effort"] = "none";
  EXPECT_EQ(chat_request(body).native["think"], false);
  body["reasoning_effort"] = "high";
  EXPECT_EQ(chat_request(body).native["think"], "high");
  body["reasoning"] = J(R"({"effort": "low"})");  // the newer form wins
  EXPECT_EQ(chat_request(body).native["think"], "low");
  body.erase("reasoning");
  body["reasoning_effort"] = "max";
  EXPECT_EQ(error_of([&] { chat_request(body); }).first, 400);
  body.erase("reasoning_effort");

  body["logprobs"] = true;
  body["top_logprobs"] = 3;
  ChatTranslation t = chat_request(body);
  EXPECT_EQ(t.native["logprobs"], true);
  EXPECT_EQ(t.native["top_logprobs"], 3);
  body["top_logprobs"] = 21;
  EXPECT_EQ(error_of([&] { chat_request(body); }).first, 400);
  body["logprobs"] = false;
  body["top_logprobs"] = 2;
  EXPECT_EQ(error_of([&] { chat_request(body); }).first, 400);
}

TEST(OpenAIChatResponse, CompletionFromMergedChunks) {
  const ojson merged = J(R"({"model": "gemma3:270m", "created_at": "2026-11-22T02:00:00Z",
      "message": {"role": "assistant", "content": "Hello!", "thinking": "greet"},
      "done": true, "done_reason": "length", "prompt_eval_count": 12, "eval_count": 3})");
  const ojson c = chat_completion(merged, "chatcmpl-1", 1700000000);
  EXPECT_EQ(c, J(R"({"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gemma3:270m",
      "system_fingerprint": "fp_kiln", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!",
      "reasoning": "greet"}, "logprobs": null, "finish_reason": "length"}],
      "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}})"));
}

TEST(OpenAIChatResponse, ToolCallsAndLogprobs) {
  const ojson merged = J(R"({"model": "qwen", "message": {"role": "assistant", "content": "",
      "tool_calls": [{"id": "call_abc", "function": {"index": 0, "name": "get_weather",
                      "arguments": {"city": "Paris", "days": 2}}},
                     {"function": {"name": "noop", "arguments": {}}}]},
      "logprobs": [{"token": "\u00e9", "logprob": -0.5, "top_logprobs": [{"token": "\u00e9", "logprob": -0.5},
                                                                       {"token": "e", "logprob": -1.5}]}],
      "done": true, "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 9})");
  const ojson c = chat_completion(merged, "chatcmpl-2", 1);
  const ojson& choice = c["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  const ojson& calls = choice["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], J(R"({"id": "call_abc", "index": 0, "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"days\":2}"}})"));
  EXPECT_EQ(calls[1]["index"], 1);
  EXPECT_EQ(calls[1]["function"]["arguments"], "{}");
  EXPECT_EQ(calls[1]["id"].get<std::string>().rfind("call_", 0), 0u);  // an id is made up when the model gave none
  EXPECT_EQ(choice["logprobs"], J(R"({"content": [{"token": "\u00e9", "logprob": -0.5, "bytes": [195, 169],
      "top_logprobs": [{"token": "\u00e9", "logprob": -0.5, "bytes": [195, 169]},
                       {"token": "e", "logprob": -1.5, "bytes": [101]}]}], "refusal": null})"));
}

TEST(OpenAIChatStream, RoleFirstFinishLastThenUsage) {
  ChatChunkTranslator t("chatcmpl-9", 1700000000, /*include_usage=*/true);
  auto first = t.translate(J(R"({"model": "g", "message": {"role": "assistant", "content": "Hel"}, "done": false})"));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0], J(R"({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1700000000, "model": "g",
      "system_fingerprint": "fp_kiln", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"},
      "logprobs": null, "finish_reason": null}], "usage": null})"));
  EXPECT_TRUE(t.translate(J(R"({"model": "g", "message": {"role": "assistant", "content": ""}, "done": false})")).empty());
  auto second = t.translate(J(R"({"model": "g", "message": {"role": "assistant", "content": "lo"}, "done": false})"));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0]["choices"][0]["delta"], J(R"({"content": "lo"})"));
  EXPECT_FALSE(t.done());
  auto last = t.translate(J(R"({"model": "g", "message": {"role": "assistant", "content": ""}, "done": true,
      "done_reason": "stop", "prompt_eval_count": 4, "eval_count": 2, "total_duration": 1})"));
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[0]["choices"][0]["delta"], ojson::object());
  EXPECT_EQ(last[0]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(last[1]["choices"], ojson::array());
  EXPECT_EQ(last[1]["usage"], J(R"({"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6})"));
  EXPECT_TRUE(t.done());
  EXPECT_TRUE(t.translate(J(R"({"done": true})")).empty());  // nothing after the end
}

TEST(OpenAIChatStream, WithoutUsageNoUsageField) {
  ChatChunkTranslator t("c", 1, false);
  auto only = t.translate(J(R"({"model": "g", "message": {"content": "x"}, "done": true, "done_reason": "length"})"));
  ASSERT_EQ(only.size(), 1u);
  EXPECT_FALSE(only[0].contains("usage"));
  EXPECT_EQ(only[0]["choices"][0]["delta"], J(R"({"role": "assistant", "content": "x"})"));
  EXPECT_EQ(only[0]["choices"][0]["finish_reason"], "length");
}

TEST(OpenAIChatStream, ToolCallsAreIndexedAcrossChunksAndSetFinishReason) {
  ChatChunkTranslator t("c", 1, false);
  t.translate(J(R"({"model": "q", "message": {"content": ""}, "done": false})"));
  auto a = t.translate(J(R"({"model": "q", "message": {"tool_calls": [{"id": "call_a",
      "function": {"name": "f", "arguments": {"x": 1}}}]}, "done": false})"));
  auto b = t.translate(J(R"({"model": "q", "message": {"tool_calls": [{"id": "call_b",
      "function": {"name": "g", "arguments": {}}}]}, "done": false})"));
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0]["choices"][0]["delta"]["tool_calls"][0], J(R"({"id": "call_a", "index": 0, "type": "function",
      "function": {"name": "f", "arguments": "{\"x\":1}"}})"));
  EXPECT_EQ(b[0]["choices"][0]["delta"]["tool_calls"][0]["index"], 1);
  auto end = t.translate(J(R"({"model": "q", "message": {"content": ""}, "done": true, "done_reason": "stop"})"));
  EXPECT_EQ(end[0]["choices"][0]["finish_reason"], "tool_calls");
}

TEST(OpenAIChatStream, ThinkingLogprobsAndErrors) {
  ChatChunkTranslator t("c", 1, true);
  auto a = t.translate(J(R"({"model": "q", "message": {"thinking": "hmm"},
      "logprobs": [{"token": "hm", "logprob": -0.1}], "done": false})"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["choices"][0]["delta"], J(R"({"role": "assistant", "content": "", "reasoning": "hmm"})"));
  EXPECT_EQ(a[0]["choices"][0]["logprobs"]["content"][0],
            J(R"({"token": "hm", "logprob": -0.1, "bytes": [104, 109], "top_logprobs": []})"));
  auto err = t.translate(J(R"({"error": "the engine failed"})"));
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0]["error"]["message"], "the engine failed");
  EXPECT_TRUE(t.failed());
  EXPECT_FALSE(t.done());
}
