// keep_alive as Ollama reads it (api.Duration.UnmarshalJSON): a number is
// whole seconds (the fraction dropped, as Go's int() does), a string is Go's
// time.ParseDuration syntax ("5m", "1h30m", "1.5s", "300ms", "-1m", "0"),
// and any negative value means "keep it loaded forever". The error texts are
// Go's, so a client sees what Ollama would have said.
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "server/http_error.h"
#include "server/model_pool.h"

namespace kiln::server {
namespace {

constexpr uint64_t kMaxDurationNs = uint64_t(std::numeric_limits<int64_t>::max());

// Go's quote() for the strings in its messages (ASCII printable kept as is).
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += char(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + "\"";
}

HttpError invalid(std::string_view orig) { return bad_request("time: invalid duration " + quote(orig)); }

uint64_t unit_ns(std::string_view u) {
  if (u == "ns") return 1;
  if (u == "us" || u == "\xC2\xB5s" || u == "\xCE\xBCs") return 1000;  // us, µs (U+00B5), μs (U+03BC)
  if (u == "ms") return 1000000;
  if (u == "s") return 1000000000ull;
  if (u == "m") return 60ull * 1000000000ull;
  if (u == "h") return 3600ull * 1000000000ull;
  return 0;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

// Go's time.ParseDuration, returning nanoseconds.
std::chrono::nanoseconds parse_go_duration(std::string_view orig) {
  std::string_view s = orig;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) throw invalid(orig);
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || is_digit(s[0]))) throw invalid(orig);
    // The integer part; overflow is an invalid duration.
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (v > (uint64_t(1) << 63) / 10) throw invalid(orig);
      v = v * 10 + uint64_t(s[i] - '0');
      if (v > uint64_t(1) << 63) throw invalid(orig);
    }
    const bool pre = i > 0;
    s.remove_prefix(i);
    // The fraction: digits past what fits are dropped, as Go does.
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflow = false;
      for (; j < s.size() && is_digit(s[j]); ++j) {
        if (overflow) continue;
        if (f > (uint64_t(1) << 63) / 10) {
          overflow = true;
          continue;
        }
        const uint64_t next = f * 10 + uint64_t(s[j] - '0');
        if (next > uint64_t(1) << 63) {
          overflow = true;
          continue;
        }
        f = next;
        scale *= 10;
      }
      post = j > 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) throw invalid(orig);
    size_t u = 0;
    while (u < s.size() && !(s[u] == '.' || is_digit(s[u]))) ++u;
    if (u == 0) throw bad_request("time: missing unit in duration " + quote(orig));
    const std::string_view unit_text = s.substr(0, u);
    s.remove_prefix(u);
    const uint64_t unit = unit_ns(unit_text);
    if (unit == 0) throw bad_request("time: unknown unit " + quote(unit_text) + " in duration " + quote(orig));
    if (v > (uint64_t(1) << 63) / unit) throw invalid(orig);
    v *= unit;
    if (f > 0) {
      v += uint64_t(double(f) * (double(unit) / scale));
      if (v > uint64_t(1) << 63) throw invalid(orig);
    }
    total += v;
    if (total > uint64_t(1) << 63) throw invalid(orig);
  }
  if (total == 0) return std::chrono::nanoseconds(0);
  if (neg) return std::chrono::nanoseconds(-int64_t(total - 1) - 1);  // -2^63 is representable
  if (total > kMaxDurationNs) throw invalid(orig);
  return std::chrono::nanoseconds(int64_t(total));
}

std::optional<KeepAlive> parse_keep_alive(const nlohmann::json& value) {
  if (value.is_null()) return std::nullopt;
  KeepAlive k;
  if (value.is_number()) {
    const double seconds = value.get<double>();
    if (seconds < 0) {
      k.duration = std::chrono::nanoseconds(-1);
    } else if (seconds >= double(kMaxDurationNs) / 1e9) {
      // Go would overflow int(t) * int(time.Second); a duration this long
      // (beyond 292 years) is "forever" in every sense that matters.
      k.duration = std::chrono::nanoseconds(-1);
    } else {
      k.duration = std::chrono::seconds(int64_t(seconds));  // 0.5 -> 0, as Go's int() truncates
    }
    return k;
  }
  if (value.is_string()) {
    k.duration = parse_go_duration(value.get<std::string>());
    if (k.duration.count() < 0) k.duration = std::chrono::nanoseconds(-1);
    return k;
  }
  throw bad_request(std::string("keep_alive must be a duration string (\"5m\") or a number of seconds, not ") +
                    value.type_name());
}

}  // namespace kiln::server
