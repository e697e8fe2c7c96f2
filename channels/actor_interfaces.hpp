#pragma once

#include "channels/event_system_messages.hpp"
#include "channels/notifications.hpp"
#include "channels/orchestration_commands.hpp"
#include "channels/type_ids.hpp"
#include "channels/worker_commands.hpp"

#include <caf/check_typed_input.hpp>
#include <caf/detail/type_list.hpp>
#include <caf/replies_to.hpp>
#include <caf/response_type.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

/// The typed actor interfaces of Tasker: a handle of one of these types
/// accepts exactly the listed messages, so sending a worker command to the
/// orchestration processor (or any other mismatch) does not compile. This is
/// the reference's type-safe channels, expressed in CAF.
namespace tasker::channels {

/// The orchestration command processor: every form of every orchestration
/// command, answered with the same result type per command.
using orchestration_processor_actor = caf::typed_actor<
    caf::replies_to<InitializeTask>::with<TaskInitialized>,
    caf::replies_to<InitializeTaskFromMessage>::with<TaskInitialized>,
    caf::replies_to<InitializeTaskFromMessageEvent>::with<TaskInitialized>,
    caf::replies_to<ProcessStepResult>::with<StepResultProcessed>,
    caf::replies_to<ProcessStepResultFromMessage>::with<StepResultProcessed>,
    caf::replies_to<ProcessStepResultFromMessageEvent>::with<
        StepResultProcessed>,
    caf::replies_to<FinalizeTask>::with<TaskFinalized>,
    caf::replies_to<FinalizeTaskFromMessage>::with<TaskFinalized>,
    caf::replies_to<FinalizeTaskFromMessageEvent>::with<TaskFinalized>,
    caf::replies_to<CancelTask>::with<TaskFinalized>,
    caf::replies_to<ApplyStepAction>::with<TaskFinalized>,
    caf::replies_to<GetProcessingStats>::with<ProcessingStats>,
    caf::replies_to<OrchestrationHealthCheck>::with<OrchestrationHealth>>;

/// The worker command processor.
using worker_processor_actor = caf::typed_actor<
    caf::replies_to<ExecuteStepFromMessage>::with<StepExecuted>,
    caf::replies_to<ExecuteStepFromEvent>::with<StepExecuted>,
    caf::replies_to<GetWorkerStatus>::with<WorkerStatus>,
    caf::replies_to<WorkerHealthCheck>::with<WorkerHealth>,
    caf::reacts_to<ShutdownWorker>>;

/// A notification router: turns notifications and poll results into the
/// commands of one processor, within the event system's in-flight limit.
/// The orchestration and worker routers are the same actor over different
/// processors (see `actors::notification_router`), so they share this
/// interface; what they route to is checked where they request commands.
using notification_router_actor = caf::typed_actor<
    caf::reacts_to<NotificationReceived>,
    caf::replies_to<ReservePollCapacity>::with<PollCapacity>,
    caf::reacts_to<PolledMessages>,
    caf::replies_to<GetEventSystemStats>::with<EventSystemStats>,
    caf::replies_to<DrainEventSystem>::with<DrainReport>,
    caf::reacts_to<DrainDeadline>>;

/// The fallback poller: reads queues in batches on its timer and when a
/// router asks (an `Available` without id, capacity freed), and hands back
/// messages a router will not process. The event system's only reader.
using fallback_poller_actor
    = caf::typed_actor<caf::reacts_to<PollTick>, caf::reacts_to<PollRequested>,
                       caf::reacts_to<ReleaseMessages>,
                       caf::reacts_to<StopPolling>,
                       caf::replies_to<FinishPolling>::with<PollerFinished>>;

/// A provider listener: holds a push subscription and forwards what it
/// delivers to a router.
using provider_listener_actor = caf::typed_actor<
    caf::reacts_to<RetrySubscribe>,
    caf::replies_to<GetListenerStatus>::with<ListenerStatus>>;

/// An event system: listener, router and poller of one node role, started
/// per deployment mode, stopped through its shutdown gate.
using event_system_actor = caf::typed_actor<
    caf::replies_to<GetEventSystemStatus>::with<EventSystemStatus>,
    caf::replies_to<ShutdownEventSystem>::with<DrainReport>>;

/// An orchestration shard: the processor's commands for the tasks it owns
/// (serialized per task), plus its batching signal.
using orchestration_shard_actor
    = orchestration_processor_actor::extend<caf::reacts_to<FlushBatches>>;

/// The worker's step executor: the worker processor's commands, plus the
/// signals its handler threads and timers send it.
using worker_executor_actor = worker_processor_actor::extend<
    caf::reacts_to<StepReady>, caf::reacts_to<StepHandled>,
    caf::reacts_to<StepFinished>, caf::reacts_to<DeadlinesDue>,
    caf::reacts_to<LeaseTick>>;

/// Sends the task store's outbox through the messaging provider.
using outbox_relay_actor = caf::typed_actor<caf::reacts_to<RelayOutbox>>;

/// Finds due retries, overdue steps and stale tasks on a timer.
using orchestration_sweeper_actor = caf::typed_actor<caf::reacts_to<SweepTick>>;

/// True when a handle of type `Handle` accepts a message made of `Ts...`.
/// It is the check behind `send` (a `static_assert`: "receiver does not
/// accept given message") and `request` (which drops out of overload
/// resolution), usable in `static_assert` and `if constexpr`.
template <class Handle, class... Ts>
inline constexpr bool kAccepts
    = caf::response_type_unbox<caf::signatures_of_t<Handle>,
                               caf::detail::type_list<Ts...>>::valid;

} // namespace tasker::channels
