#pragma once
// Shared helpers of the template tests: fixture loading and the fixed clock
// that tools/gen_template_fixtures.py rendered the references with.
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace kiln::tmpl::testing {

inline std::string fixture_path(const std::string& relative) { return std::string(KILN_FIXTURES) + "/" + relative; }

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline nlohmann::ordered_json load_fixture(const std::string& name) {
  return nlohmann::ordered_json::parse(read_file(fixture_path("template/" + name)));
}

// FIXED_NOW of the generator: 2025-03-14 09:26:53 (a Friday).
inline std::tm fixed_now() {
  std::tm t{};
  t.tm_year = 2025 - 1900;
  t.tm_mon = 2;
  t.tm_mday = 14;
  t.tm_hour = 9;
  t.tm_min = 26;
  t.tm_sec = 53;
  std::time_t seconds = timegm(&t);  // fills tm_wday and tm_yday
  gmtime_r(&seconds, &t);
  return t;
}

}  // namespace kiln::tmpl::testing
