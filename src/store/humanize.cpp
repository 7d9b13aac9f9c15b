#include "store/humanize.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace kiln::store {
namespace {

std::string fmt(const char* f, double v, const char* unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v, unit);
  return buf;
}

}  // namespace

std::string human_number(uint64_t n) {
  // Ollama's format.HumanNumber: no decimals when whole, else 1 (B) or 2 (M).
  const double v = static_cast<double>(n);
  if (n >= 1000000000ull) {
    const double b = v / 1e9;
    return b == std::floor(b) ? fmt("%.0f%s", b, "B") : fmt("%.1f%s", b, "B");
  }
  if (n >= 1000000ull) {
    const double m = v / 1e6;
    return m == std::floor(m) ? fmt("%.0f%s", m, "M") : fmt("%.2f%s", m, "M");
  }
  if (n >= 1000ull) return fmt("%.0f%s", v / 1e3, "K");
  return std::to_string(n);
}

std::string human_bytes(uint64_t bytes) {
  // Ollama's format.HumanBytes: decimal units; whole numbers from 100 up,
  // else one decimal when there is a fraction.
  struct Unit {
    double size;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{1e12, "TB"}, {1e9, "GB"}, {1e6, "MB"}, {1e3, "KB"}};
  for (const auto& u : kUnits) {
    if (static_cast<double>(bytes) < u.size) continue;
    const double value = static_cast<double>(bytes) / u.size;
    char buf[64];
    if (value >= 100 || value == std::trunc(value))
      std::snprintf(buf, sizeof buf, "%d %s", static_cast<int>(value), u.name);
    else
      std::snprintf(buf, sizeof buf, "%.1f %s", value, u.name);
    return buf;
  }
  return std::to_string(bytes) + " B";
}

std::string human_time_ago(double seconds) {
  // The wording of Docker's units.HumanDuration, which Ollama uses.
  if (seconds < 0) seconds = 0;
  const long s = static_cast<long>(seconds);
  std::string d;
  if (s < 1) {
    d = "Less than a second";
  } else if (s == 1) {
    d = "1 second";
  } else if (s < 60) {
    d = std::to_string(s) + " seconds";
  } else if (long minutes = s / 60; minutes == 1) {
    d = "About a minute";
  } else if (minutes < 60) {
    d = std::to_string(minutes) + " minutes";
  } else if (long hours = std::lround(seconds / 3600); hours == 1) {
    d = "About an hour";
  } else if (hours < 48) {
    d = std::to_string(hours) + " hours";
  } else if (hours < 24 * 7 * 2) {
    d = std::to_string(hours / 24) + " days";
  } else if (hours < 24 * 30 * 2) {
    d = std::to_string(hours / 24 / 7) + " weeks";
  } else if (hours < 24 * 365 * 2) {
    d = std::to_string(hours / 24 / 30) + " months";
  } else {
    d = std::to_string(hours / 24 / 365) + " years";  // the rounded hours, as the branch test
  }
  return d + " ago";
}

static size_t display_width(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // count UTF-8 lead bytes
  return n;
}

std::string columns(const std::vector<std::vector<std::string>>& rows, std::string_view indent, std::string_view gap) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.resize(i + 1, 0);
      width[i] = std::max(width[i], display_width(row[i]));
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line(indent);
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - display_width(row[i]), ' ') + std::string(gap);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace kiln::store
