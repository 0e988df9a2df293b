// Strict parsers for the scalar values found in config files, environment variables and flags.
// Each accepts the whole text or nothing: "12abc" is not an integer, " 1" is not either.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dsagent {

// true/false, on/off, yes/no, 1/0 (ASCII case-insensitive). nullopt for anything else.
std::optional<bool> ParseBool(std::string_view text);

// A decimal integer with an optional leading '-'. nullopt on junk or int64 overflow.
std::optional<int64_t> ParseInt64(std::string_view text);

// A finite decimal number ("5", "0.0028", "1e-3"). nullopt on junk, NaN or infinity.
std::optional<double> ParseFiniteDouble(std::string_view text);

// An ISO 8601 UTC timestamp: "2026-04-26T12:15:00Z", "2026-04-26T12:15Z", the same with "+00:00"
// instead of "Z", or a date alone ("2026-04-24", midnight UTC). Any other offset is refused so a
// price's effective time is never ambiguous. nullopt on anything else or an impossible date.
std::optional<std::chrono::sys_seconds> ParseUtcTimestamp(std::string_view text);

}  // namespace dsagent
