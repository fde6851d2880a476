// Identifiers and timestamps used in the API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cryo::service {

// "<prefix>-<16 lowercase hex>" from 64 random bits.
std::string new_id(std::string_view prefix);
bool is_valid_id(std::string_view id, std::string_view prefix);

// Wall clock in nanoseconds since the epoch.
int64_t now_ns();
// RFC 3339 UTC with second precision: 2026-11-30T10:00:00Z.
std::string rfc3339(int64_t unix_ns);

// Compares secrets without leaking the position of the first difference through timing.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace cryo::service
