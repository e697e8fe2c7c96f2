#pragma once

#include <chrono>
#include <string>

namespace tasker::orchestration {

/// Returns a new UUID version 7 (RFC 9562) for `now`, in the canonical
/// 36-character form: a 48-bit millisecond timestamp then 74 random bits,
/// so ids sort by creation time (index-friendly) and never repeat.
std::string new_uuid_v7(std::chrono::system_clock::time_point now
                        = std::chrono::system_clock::now());

} // namespace tasker::orchestration
