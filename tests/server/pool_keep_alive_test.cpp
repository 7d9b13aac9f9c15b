// keep_alive as Ollama reads it: Go duration strings, numbers of seconds,
// negative = forever, null = the server default, and Go's error texts.
#include <gtest/gtest.h>

#include "server/http_error.h"
#include "server/model_pool.h"

using kiln::server::HttpError;
using kiln::server::parse_go_duration;
using kiln::server::parse_keep_alive;
using nlohmann::json;
using namespace std::chrono;

namespace {

nanoseconds ka(const json& v) {
  auto k = parse_keep_alive(v);
  EXPECT_TRUE(k.has_value());
  return k ? k->duration : nanoseconds(12345);
}

std::string error_of(const json& v) {
  try {
    parse_keep_alive(v);
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 400);
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(KeepAlive, GoDurationStrings) {
  EXPECT_EQ(ka("5m"), minutes(5));
  EXPECT_EQ(ka("1h30m"), minutes(90));
  EXPECT_EQ(ka("1.5s"), milliseconds(1500));
  EXPECT_EQ(ka("300ms"), milliseconds(300));
  EXPECT_EQ(ka("2h45m30.5s"), hours(2) + minutes(45) + milliseconds(30500));
  EXPECT_EQ(ka("10us"), microseconds(10));
  EXPECT_EQ(ka("10\xC2\xB5s"), microseconds(10));  // µs
  EXPECT_EQ(ka("10\xCE\xBCs"), microseconds(10));  // μs (Greek mu)
  EXPECT_EQ(ka("7ns"), nanoseconds(7));
  EXPECT_EQ(ka(".5m"), seconds(30));
}

TEST(KeepAlive, ZeroAndNegative) {
  EXPECT_EQ(ka("0"), nanoseconds(0));
  EXPECT_EQ(ka("0s"), nanoseconds(0));
  EXPECT_EQ(ka("-0s"), nanoseconds(0));
  EXPECT_EQ(ka(0), nanoseconds(0));
  for (const json& forever : {json("-1m"), json("-1ns"), json(-1), json(-0.5), json(-1e300)}) {
    auto k = parse_keep_alive(forever);
    ASSERT_TRUE(k);
    EXPECT_TRUE(k->forever()) << forever.dump();
  }
  EXPECT_FALSE(parse_keep_alive("5m")->forever());
  EXPECT_FALSE(parse_keep_alive(0)->forever());
}

TEST(KeepAlive, NumbersAreWholeSeconds) {
  EXPECT_EQ(ka(300), seconds(300));
  EXPECT_EQ(ka(2.9), seconds(2));  // Go's int() truncates
  EXPECT_EQ(ka(0.5), seconds(0));
  EXPECT_TRUE(parse_keep_alive(1e30)->forever()) << "past Go's Duration range: kept forever, not overflowed";
}

TEST(KeepAlive, NullIsTheServerDefault) { EXPECT_FALSE(parse_keep_alive(json()).has_value()); }

TEST(KeepAlive, ErrorsAreGos) {
  EXPECT_EQ(error_of("abc"), "time: invalid duration \"abc\"");
  EXPECT_EQ(error_of(""), "time: invalid duration \"\"");
  EXPECT_EQ(error_of("10"), "time: missing unit in duration \"10\"");
  EXPECT_EQ(error_of("5x"), "time: unknown unit \"x\" in duration \"5x\"");
  EXPECT_EQ(error_of("1.5"), "time: missing unit in duration \"1.5\"");
  EXPECT_EQ(error_of(".s"), "time: invalid duration \".s\"");
  EXPECT_EQ(error_of("-"), "time: invalid duration \"-\"");
  EXPECT_EQ(error_of("9999999999999h"), "time: invalid duration \"9999999999999h\"");
  EXPECT_EQ(error_of("5m "), "time: unknown unit \"m \" in duration \"5m \"");
  EXPECT_NE(error_of(true).find("keep_alive must be a duration string"), std::string::npos);
  EXPECT_NE(error_of(json::object()).find("not object"), std::string::npos);
  EXPECT_NE(error_of(json::array()).find("not array"), std::string::npos);
}

TEST(KeepAlive, GoDurationLimits) {
  EXPECT_EQ(parse_go_duration("2562047h47m16.854775807s").count(), INT64_MAX);
  EXPECT_THROW(parse_go_duration("2562047h47m16.854775808s"), HttpError);
  EXPECT_EQ(parse_go_duration("-2562047h47m16.854775808s").count(), INT64_MIN);
  EXPECT_EQ(parse_go_duration("+1m"), minutes(1));
}
