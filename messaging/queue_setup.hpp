#pragma once

#include "core/result.hpp"
#include "messaging/messaging_provider.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace tasker::messaging {

/// Creates `queues` when missing (one bulk call), then verifies them: a
/// queue still missing or declared with other properties fails naming it.
/// `owner` ("worker", "orchestration") names who needs them in messages.
core::Result<void>
ensure_and_verify_queues(MessagingProvider& provider,
                         const std::vector<std::string>& queues,
                         std::string_view owner);

} // namespace tasker::messaging
