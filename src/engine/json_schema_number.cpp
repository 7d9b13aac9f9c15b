// Integer ranges as grammars over decimal digits (JSON integers: no leading
// zeros, "-" for negatives, "-0" never produced).
//
// A range of numbers with the same digit count splits at its first digit:
// the low end's first digit followed by "its tail .. 99..9", the digits
// strictly between followed by any digits, and the high end's first digit
// followed by "00..0 .. its tail". Recursing on the tails gives at most
// 2 * digits alternatives per length.
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/json_schema.h"

namespace kiln::engine {
namespace {

constexpr int kMaxDigits = 16;  // as the schema's int-part: bounded generation

std::string digit_class(char lo, char hi) {
  if (lo == hi) return std::string("\"") + lo + "\"";
  if (lo == '0' && hi == '9') return "[0-9]";
  return std::string("[") + lo + "-" + hi + "]";
}

std::string any_digits(size_t n) {
  if (n == 0) return "";
  if (n == 1) return "[0-9]";
  return "[0-9]{" + std::to_string(n) + "}";
}

// x and y: same length, x <= y; alternatives appended to out.
void same_length(const std::string& x, const std::string& y, const std::string& prefix, std::vector<std::string>& out) {
  const size_t n = x.size();
  if (n == 1) {
    out.push_back(prefix + digit_class(x[0], y[0]));
    return;
  }
  if (x[0] == y[0]) {
    same_length(x.substr(1), y.substr(1), prefix + "\"" + x[0] + "\" ", out);
    return;
  }
  const std::string xt = x.substr(1), yt = y.substr(1);
  const bool x_floor = xt.find_first_not_of('0') == std::string::npos;  // x = d00..0
  const bool y_ceil = yt.find_first_not_of('9') == std::string::npos;   // y = d99..9
  char mid_lo = static_cast<char>(x[0] + 1), mid_hi = static_cast<char>(y[0] - 1);
  if (x_floor) mid_lo = x[0];
  else same_length(xt, std::string(n - 1, '9'), prefix + "\"" + x[0] + "\" ", out);
  if (y_ceil) mid_hi = y[0];
  if (mid_lo <= mid_hi) out.push_back(prefix + digit_class(mid_lo, mid_hi) + " " + any_digits(n - 1));
  if (!y_ceil) same_length(std::string(n - 1, '0'), yt, prefix + "\"" + y[0] + "\" ", out);
}

// Non-negative [a, b]; b < 0 means no upper bound (up to kMaxDigits digits).
void non_negative(long long a, long long b, const std::string& prefix, std::vector<std::string>& out) {
  const std::string as = std::to_string(a);
  const size_t max_len = b < 0 ? kMaxDigits : std::to_string(b).size();
  for (size_t len = as.size(); len <= max_len; ++len) {
    std::string lo = len == as.size() ? as : "1" + std::string(len - 1, '0');
    std::string hi = (b >= 0 && len == max_len) ? std::to_string(b) : std::string(len, '9');
    if (len == 1 && lo == "0" && hi == "9") {
      out.push_back(prefix + "[0-9]");
      continue;
    }
    if (b < 0 && len > as.size() && len > 1) {
      // Every longer length: one alternative for all of them.
      out.push_back(prefix + "[1-9] [0-9]{" + std::to_string(len - 1) + "," + std::to_string(kMaxDigits - 1) + "}");
      break;
    }
    same_length(lo, hi, prefix, out);
  }
}

}  // namespace

std::string json_integer_range_gbnf(const long long* lo, const long long* hi) {
  const long long kLimit = 999999999999999LL;  // 15 nines: stays within kMaxDigits
  if ((lo && (*lo > kLimit || *lo < -kLimit)) || (hi && (*hi > kLimit || *hi < -kLimit)))
    throw kiln::Error("integer bounds beyond 15 digits are not supported");
  if (lo && hi && *lo > *hi) throw kiln::Error("integer range is empty");
  std::vector<std::string> alts;
  // Negative part: -[max(1, -hi) .. -lo]
  if (!lo || *lo < 0) {
    const long long neg_lo = hi && *hi < 0 ? -*hi : 1;
    const long long neg_hi = lo ? -*lo : -1;
    non_negative(neg_lo, neg_hi, "\"-\" ", alts);
  }
  if (!hi || *hi >= 0) {
    const long long a = lo && *lo > 0 ? *lo : 0;
    non_negative(a, hi ? *hi : -1, "", alts);
  }
  std::string out = "( ";
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
  return out + " )";
}

}  // namespace kiln::engine
