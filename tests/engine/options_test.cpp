// Generation options: Ollama's defaults, JSON and PARAMETER parsing with Go's
// rules, precedence, and rejection of absurd values.
#include "engine/options.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/sampling.h"

namespace kiln::engine {
namespace {

using json = nlohmann::json;

// Expects a kiln::Error whose message contains every fragment.
template <typename F>
void expect_error(F&& f, std::initializer_list<std::string_view> fragments) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (auto frag : fragments) EXPECT_NE(std::string(e.what()).find(frag), std::string::npos) << e.what();
  }
}

Options from_json(const json& j) {
  Options o;
  apply_json(o, j);
  return o;
}

TEST(Options, DefaultsAreOllamas) {
  // api.DefaultOptions() in Ollama, with the 4096-token default context.
  const Options o;
  EXPECT_EQ(o.num_ctx, 4096);
  EXPECT_EQ(o.num_batch, 512);
  EXPECT_EQ(o.num_gpu, -1);
  EXPECT_EQ(o.num_thread, 0);
  EXPECT_FALSE(o.use_mmap.has_value());
  EXPECT_EQ(o.num_keep, 4);
  EXPECT_EQ(o.seed, -1);
  EXPECT_EQ(o.num_predict, -1);
  EXPECT_EQ(o.top_k, 40);
  EXPECT_FLOAT_EQ(o.top_p, 0.9f);
  EXPECT_FLOAT_EQ(o.min_p, 0.0f);
  EXPECT_FLOAT_EQ(o.typical_p, 1.0f);
  EXPECT_EQ(o.repeat_last_n, 64);
  EXPECT_FLOAT_EQ(o.temperature, 0.8f);
  EXPECT_FLOAT_EQ(o.repeat_penalty, 1.1f);
  EXPECT_FLOAT_EQ(o.presence_penalty, 0.0f);
  EXPECT_FLOAT_EQ(o.frequency_penalty, 0.0f);
  EXPECT_TRUE(o.stop.empty());
  EXPECT_NO_THROW(validate(o));
}

TEST(Options, JsonSetsEveryField) {
  const Options o = from_json(json::parse(R"({
    "num_ctx": 8192, "num_batch": 256, "num_gpu": 999, "main_gpu": 1, "use_mmap": false, "num_thread": 2,
    "num_keep": 10, "seed": 42, "num_predict": 128, "top_k": 20, "top_p": 0.5, "min_p": 0.05,
    "typical_p": 0.7, "repeat_last_n": -1, "temperature": 0, "repeat_penalty": 1.3,
    "presence_penalty": 0.5, "frequency_penalty": -0.25, "stop": ["</s>", "\n\n"]})"));
  EXPECT_EQ(o.num_ctx, 8192);
  EXPECT_EQ(o.num_batch, 256);
  EXPECT_EQ(o.num_gpu, 999);
  EXPECT_EQ(o.main_gpu, 1);
  EXPECT_EQ(o.use_mmap, false);
  EXPECT_EQ(o.num_thread, 2);
  EXPECT_EQ(o.num_keep, 10);
  EXPECT_EQ(o.seed, 42);
  EXPECT_EQ(o.num_predict, 128);
  EXPECT_EQ(o.top_k, 20);
  EXPECT_FLOAT_EQ(o.top_p, 0.5f);
  EXPECT_FLOAT_EQ(o.min_p, 0.05f);
  EXPECT_FLOAT_EQ(o.typical_p, 0.7f);
  EXPECT_EQ(o.repeat_last_n, -1);
  EXPECT_FLOAT_EQ(o.temperature, 0.f);
  EXPECT_FLOAT_EQ(o.repeat_penalty, 1.3f);
  EXPECT_FLOAT_EQ(o.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(o.frequency_penalty, -0.25f);
  EXPECT_EQ(o.stop, (std::vector<std::string>{"</s>", "\n\n"}));
}

TEST(Options, IntegersFollowGoFromMap) {
  // JSON numbers reach Go as float64 and are truncated to int.
  EXPECT_EQ(from_json({{"top_k", 40.7}}).top_k, 40);
  EXPECT_EQ(from_json({{"num_predict", -1.9}}).num_predict, -1);
  EXPECT_EQ(from_json({{"seed", 1e15}}).seed, 1000000000000000);
  EXPECT_EQ(from_json({{"seed", -7}}).seed, -7);
  // Floats accept integers.
  EXPECT_FLOAT_EQ(from_json({{"temperature", 1}}).temperature, 1.f);
}

TEST(Options, NullKeepsTheCurrentValue) {
  Options o;
  o.top_k = 7;
  apply_json(o, {{"top_k", nullptr}, {"stop", nullptr}});
  EXPECT_EQ(o.top_k, 7);
}

TEST(Options, WrongTypesNameTheOptionAndType) {
  expect_error([] { from_json({{"top_k", "40"}}); }, {"\"top_k\"", "integer"});
  expect_error([] { from_json({{"top_k", true}}); }, {"\"top_k\"", "integer"});
  expect_error([] { from_json({{"temperature", "hot"}}); }, {"\"temperature\"", "float"});
  expect_error([] { from_json({{"use_mmap", 1}}); }, {"\"use_mmap\"", "boolean"});
  expect_error([] { from_json({{"stop", 5}}); }, {"\"stop\"", "array"});
  expect_error([] { from_json({{"stop", json::array({"a", 1})}}); }, {"\"stop\"", "strings"});
  expect_error([] { from_json(json::array({1, 2})); }, {"options", "object"});
}

TEST(Options, AbsurdValuesAreRejectedWithTheirRange) {
  expect_error([] { from_json({{"num_ctx", 1000000000}}); }, {"\"num_ctx\"", "between 1 and", "1e+09"});
  expect_error([] { from_json({{"num_ctx", 0}}); }, {"\"num_ctx\""});
  expect_error([] { from_json({{"num_predict", -3}}); }, {"\"num_predict\"", "-2"});
  expect_error([] { from_json({{"top_k", -1}}); }, {"\"top_k\""});
  expect_error([] { from_json({{"temperature", -0.1}}); }, {"\"temperature\""});
  expect_error([] { from_json({{"temperature", 1e300}}); }, {"\"temperature\""});
  expect_error([] { from_json({{"top_p", 1.5}}); }, {"\"top_p\"", "between 0 and 1"});
  expect_error([] { from_json({{"top_p", -0.01}}); }, {"\"top_p\""});
  expect_error([] { from_json({{"min_p", 2}}); }, {"\"min_p\""});
  expect_error([] { from_json({{"typical_p", 1.01}}); }, {"\"typical_p\""});
  expect_error([] { from_json({{"repeat_last_n", -2}}); }, {"\"repeat_last_n\""});
  expect_error([] { from_json({{"repeat_penalty", 0}}); }, {"\"repeat_penalty\"", "greater than 0"});
  expect_error([] { from_json({{"presence_penalty", 1000}}); }, {"\"presence_penalty\""});
  expect_error([] { from_json({{"num_batch", 0}}); }, {"\"num_batch\""});
  expect_error([] { from_json({{"num_thread", -1}}); }, {"\"num_thread\""});
  expect_error([] { from_json({{"num_gpu", -2}}); }, {"\"num_gpu\""});
  expect_error([] { from_json({{"top_k", 1e20}}); }, {"\"top_k\""});  // beyond int64
  expect_error([] { from_json({{"top_k", 18446744073709551615ull}}); }, {"\"top_k\""});
  expect_error([] { from_json({{"top_k", 4294967296}}); }, {"\"top_k\""});  // beyond int32
}

TEST(Options, EdgeValuesAreAccepted) {
  EXPECT_NO_THROW(from_json({{"top_p", 0}}));
  EXPECT_NO_THROW(from_json({{"top_p", 1}}));
  EXPECT_NO_THROW(from_json({{"temperature", 0}, {"top_k", 0}, {"min_p", 1}, {"typical_p", 0}}));
  EXPECT_NO_THROW(from_json({{"num_predict", -2}, {"repeat_last_n", -1}, {"num_keep", -1}}));
  EXPECT_NO_THROW(from_json({{"num_ctx", kMaxNumCtx}}));
  EXPECT_NO_THROW(from_json({{"seed", -9223372036854775807LL}}));
}

TEST(Options, StopListsAreBounded) {
  json many = json::array();
  for (size_t i = 0; i <= kMaxStopStrings; ++i) many.push_back("s" + std::to_string(i));
  expect_error([&] { from_json({{"stop", many}}); }, {"\"stop\"", "at most"});
  expect_error([] { from_json({{"stop", json::array({std::string(kMaxStopBytes + 1, 'x')})}}); }, {"\"stop\""});
  // Empty stop strings would stop before anything is generated: dropped.
  EXPECT_EQ(from_json({{"stop", json::array({"", "END", ""})}}).stop, std::vector<std::string>{"END"});
  // A lone string is a one-element list.
  EXPECT_EQ(from_json({{"stop", "END"}}).stop, std::vector<std::string>{"END"});
}

TEST(Options, AFailedApplyChangesNothing) {
  Options o;
  EXPECT_THROW(apply_json(o, {{"top_k", 5}, {"top_p", 7}}), Error);
  EXPECT_EQ(o, Options());
}

TEST(Options, UnknownAndDeprecatedKeysAreReportedNotFatal) {
  Options o;
  std::vector<std::string> ignored;
  apply_json(o, {{"mirostat", 2}, {"penalize_newline", true}, {"bogus", 1}, {"top_k", 3}}, &ignored);
  EXPECT_EQ(o.top_k, 3);
  std::sort(ignored.begin(), ignored.end());
  EXPECT_EQ(ignored, (std::vector<std::string>{"bogus", "mirostat", "penalize_newline"}));
}

TEST(Options, RequestOverModelOverDefaults) {
  const json model = {{"temperature", 0.2}, {"top_k", 10}, {"stop", {"<|im_end|>", "<|endoftext|>"}}};
  const json request = {{"top_k", 5}, {"stop", {"###"}}};
  const Options o = resolve(&model, &request);
  EXPECT_FLOAT_EQ(o.temperature, 0.2f);  // from the model
  EXPECT_EQ(o.top_k, 5);                 // the request wins
  EXPECT_EQ(o.stop, std::vector<std::string>{"###"});  // replaced, not merged (Go sets the slice)
  EXPECT_FLOAT_EQ(o.top_p, 0.9f);        // default
  EXPECT_EQ(resolve(nullptr, nullptr), Options());
  const json bad = {{"top_p", 3}};
  EXPECT_THROW(resolve(&model, &bad), Error);
}

TEST(Options, ModelfileParametersUseGoParsing) {
  Options o;
  apply_parameter(o, "temperature", "0.7");
  apply_parameter(o, "top_k", "+20");
  apply_parameter(o, "num_ctx", "8192");
  apply_parameter(o, "use_mmap", "F");
  apply_parameter(o, "seed", "-5");
  apply_parameter(o, "stop", "<|im_end|>");
  apply_parameter(o, "stop", "<|endoftext|>");  // repeated lines append
  apply_parameter(o, "mirostat", "2");            // deprecated: ignored
  EXPECT_FLOAT_EQ(o.temperature, 0.7f);
  EXPECT_EQ(o.top_k, 20);
  EXPECT_EQ(o.num_ctx, 8192);
  EXPECT_EQ(o.use_mmap, false);
  EXPECT_EQ(o.seed, -5);
  EXPECT_EQ(o.stop, (std::vector<std::string>{"<|im_end|>", "<|endoftext|>"}));
}

TEST(Options, ModelfileParameterErrors) {
  Options o;
  expect_error([&] { apply_parameter(o, "top_k", "4.5"); }, {"invalid integer", "top_k"});
  expect_error([&] { apply_parameter(o, "top_k", " 4"); }, {"invalid integer"});
  expect_error([&] { apply_parameter(o, "temperature", "warm"); }, {"invalid float", "temperature"});
  expect_error([&] { apply_parameter(o, "temperature", "nan"); }, {"\"temperature\"", "finite"});
  expect_error([&] { apply_parameter(o, "use_mmap", "yes"); }, {"invalid bool"});
  expect_error([&] { apply_parameter(o, "temprature", "1"); }, {"unknown parameter 'temprature'"});
  expect_error([&] { apply_parameter(o, "num_ctx", "1000000000"); }, {"\"num_ctx\""});
  EXPECT_EQ(o, Options());
}

TEST(Options, JsonRoundTrip) {
  Options o;
  o.temperature = 0.3f;
  o.stop = {"a", "b"};
  o.use_mmap = true;
  o.seed = 123456789012345;
  const json j = to_json(o);
  EXPECT_EQ(j.at("temperature").dump(), "0.3");  // float32 written short, as Go does
  EXPECT_EQ(j.at("top_p").dump(), "0.9");
  EXPECT_EQ(from_json(j), o);
  EXPECT_FALSE(to_json(Options()).contains("use_mmap"));
  for (const auto& [key, value] : j.items()) EXPECT_TRUE(is_option_name(key)) << key;
  EXPECT_FALSE(is_option_name("mirostat"));
}

TEST(Options, SamplingParamsResolveRepeatLastN) {
  Options o;
  o.num_ctx = 2048;
  o.repeat_last_n = -1;
  EXPECT_EQ(sampling_params(o).repeat_last_n, 2048);
  o.repeat_last_n = 0;
  EXPECT_EQ(sampling_params(o).repeat_last_n, 0);
  o.temperature = 0.25f;
  o.seed = 9;
  const SamplingParams p = sampling_params(o);
  EXPECT_FLOAT_EQ(p.temperature, 0.25f);
  EXPECT_EQ(p.seed, 9);
  EXPECT_EQ(p.top_k, o.top_k);
}

}  // namespace
}  // namespace kiln::engine
