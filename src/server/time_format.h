#pragma once
// Timestamps as Ollama's JSON carries them: Go's time.Time marshals to
// RFC 3339 with nanoseconds (trailing zeros dropped) in the server's local
// time zone, e.g. "2025-01-02T15:04:05.123456789+01:00" ("Z" in UTC).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace kiln::server {

std::string rfc3339(std::chrono::system_clock::time_point t);
std::chrono::system_clock::time_point to_system_time(std::filesystem::file_time_type t);
// Seconds since the Unix epoch (OpenAI's "created").
int64_t unix_seconds(std::chrono::system_clock::time_point t);

}  // namespace kiln::server
