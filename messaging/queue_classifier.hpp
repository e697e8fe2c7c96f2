#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tasker::messaging {

/// The part a queue plays in the flow.
enum class QueueRole {
  /// `orchestration_task_requests`: new tasks to initialize.
  task_requests,
  /// `orchestration_step_results`: results from workers.
  step_results,
  /// `orchestration_task_finalizations`: tasks to finalize.
  task_finalizations,
  /// `worker_{namespace}_queue`: steps for the workers of a namespace.
  worker_steps,
  /// `{queue}_dlq`: dead letters of another queue.
  dead_letter,
  /// Anything else.
  unknown,
};

/// Returns the role's name, e.g. "step_results".
std::string_view to_string(QueueRole role);

/// A queue's role, and its namespace for worker queues.
struct QueueClassification {
  QueueRole role = QueueRole::unknown;
  /// The namespace of a `worker_steps` queue, or of the queue a
  /// `dead_letter` queue belongs to when that is a worker queue.
  std::optional<std::string> namespace_name;
};

/// Maps queue names to roles and back, following the naming scheme of
/// `config/queue_names.hpp`, so routing never parses names by hand.
class QueueClassifier {
 public:
  /// Returns the role of `queue`.
  static QueueClassification classify(std::string_view queue);

  /// Returns the queue of an orchestration role (not `worker_steps`,
  /// `dead_letter` or `unknown`, for which it returns nothing).
  static std::optional<std::string> queue_for(QueueRole role);

  /// Returns `worker_{namespace}_queue`.
  static std::string worker_queue(std::string_view namespace_name);
};

} // namespace tasker::messaging
