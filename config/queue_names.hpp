#pragma once

#include "core/result.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tasker::config {

// -- the naming scheme (carried over from the reference system) ---------------

inline constexpr std::string_view kTaskRequestsQueue
    = "orchestration_task_requests";
inline constexpr std::string_view kStepResultsQueue
    = "orchestration_step_results";
inline constexpr std::string_view kTaskFinalizationsQueue
    = "orchestration_task_finalizations";
inline constexpr std::string_view kDeadLetterSuffix = "_dlq";

/// Longest queue name any provider accepts (PGMQ's limit: 63 minus the
/// longest table prefix PostgreSQL tooling adds).
inline constexpr std::size_t kMaxQueueNameLength = 47;

/// Longest namespace: `worker_{ns}_queue_dlq` must still be a valid name.
inline constexpr std::size_t kMaxNamespaceLength
    = kMaxQueueNameLength - std::string_view{"worker__queue_dlq"}.size();

/// The three queues an orchestration event system reads.
std::vector<std::string> orchestration_queue_names();

/// Returns `worker_{ns}_queue`, without validating it.
std::string worker_queue_name(std::string_view ns);

/// Returns `{queue}_dlq`, without validating it.
std::string dead_letter_queue_name(std::string_view queue);

/// Returns the namespace of a `worker_{ns}_queue` name, if it is one.
std::optional<std::string> namespace_of_worker_queue(std::string_view queue);

/// The single check every queue name passes before it reaches SQL or AMQP:
/// 1 to 47 characters of `[a-z0-9_]`, not starting with a digit. The error
/// names the queue and the rule it breaks.
core::Result<void> validate_queue_name(std::string_view name);

/// Checks a namespace: `[a-z0-9_]`, not starting with a digit, at most
/// `kMaxNamespaceLength` characters so that its queues are valid names.
core::Result<void> validate_namespace(std::string_view ns);

} // namespace tasker::config
