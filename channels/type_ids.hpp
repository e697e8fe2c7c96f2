#pragma once

#include "channels/event_system_messages.hpp"
#include "channels/notifications.hpp"
#include "channels/orchestration_commands.hpp"
#include "channels/worker_commands.hpp"
#include "core/error.hpp"

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/type_id.hpp>

// The one CAF type-ID block of Tasker: every message type actors exchange.
// Register it with `configure_actor_system` (channels/actor_system_setup.hpp).
// The vocabulary has no atoms: every request, even an empty one, is a struct,
// so that typed interfaces tell requests apart by type.
CAF_BEGIN_TYPE_ID_BLOCK(tasker, caf::first_custom_type_id)

// orchestration commands and replies
CAF_ADD_TYPE_ID(tasker, (tasker::channels::InitializeTask))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::InitializeTaskFromMessage))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::InitializeTaskFromMessageEvent))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::TaskInitialized))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::ProcessStepResult))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::ProcessStepResultFromMessage))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::ProcessStepResultFromMessageEvent))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::StepResultProcessed))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::FinalizeTask))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::FinalizeTaskFromMessage))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::FinalizeTaskFromMessageEvent))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::TaskFinalized))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::CancelTask))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::ApplyStepAction))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::GetProcessingStats))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::ProcessingStats))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::OrchestrationHealthCheck))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::OrchestrationHealth))

// worker commands and replies
CAF_ADD_TYPE_ID(tasker, (tasker::channels::ExecuteStepFromMessage))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::ExecuteStepFromEvent))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::StepExecuted))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::GetWorkerStatus))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::WorkerStatus))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::WorkerHealthCheck))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::WorkerHealth))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::ShutdownWorker))

// notifications and event system counters
CAF_ADD_TYPE_ID(tasker, (tasker::channels::NotificationReceived))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::PollRequested))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::GetEventSystemStats))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::EventSystemStats))

// event system internals: capacity, polls, releases, drain, status
CAF_ADD_TYPE_ID(tasker, (tasker::channels::ReservePollCapacity))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::PollCapacity))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::PolledMessages))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::ReleaseMessages))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::PollTick))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::StopPolling))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::FinishPolling))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::PollerFinished))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::RetrySubscribe))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::GetListenerStatus))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::ListenerStatus))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::DrainEventSystem))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::DrainDeadline))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::DrainReport))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::ShutdownEventSystem))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::GetEventSystemStatus))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::EventSystemStatus))

// orchestration internals
CAF_ADD_TYPE_ID(tasker, (tasker::channels::FlushBatches))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::RelayOutbox))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::SweepTick))
// worker internals
CAF_ADD_TYPE_ID(tasker, (tasker::channels::StepReady))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::StepHandled))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::StepFinished))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::DeadlinesDue))
CAF_ADD_TYPE_ID(tasker, (tasker::channels::LeaseTick))
// API internals
CAF_ADD_TYPE_ID(tasker, (tasker::channels::CreationsDue))

CAF_END_TYPE_ID_BLOCK(tasker)

// Lets `core::ErrorCode` convert to `caf::error` (category atom "tasker").
CAF_ERROR_CODE_ENUM(tasker::core::ErrorCode, "tasker")
