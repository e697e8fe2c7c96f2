#include "orchestration/step_state_machine.hpp"
#include "orchestration/task_state_machine.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

using tasker::orchestration::is_terminal;
using tasker::orchestration::kAllStepEvents;
using tasker::orchestration::kAllStepStates;
using tasker::orchestration::kAllTaskEvents;
using tasker::orchestration::kAllTaskStates;
using tasker::orchestration::next_state;
using tasker::orchestration::parse_step_event;
using tasker::orchestration::parse_step_state;
using tasker::orchestration::parse_task_event;
using tasker::orchestration::parse_task_state;
using tasker::orchestration::satisfies_dependency;
using tasker::orchestration::StepEvent;
using tasker::orchestration::StepState;
using tasker::orchestration::TaskEvent;
using tasker::orchestration::TaskState;
using tasker::orchestration::to_string;

namespace {

using TS = TaskState;
using TE = TaskEvent;
using SS = StepState;
using SE = StepEvent;

constexpr std::nullopt_t kRejected = std::nullopt;

/// One cell of a transition table: the outcome of `event` in `from`.
template <class State, class Event>
struct Row {
  State from;
  Event event;
  std::optional<State> to;
};

// Every state x every event, written out: a change to the machines must
// change this table too.
const std::vector<Row<TS, TE>> kTaskTable = {
    // pending
    {TS::pending, TE::start, TS::initializing},
    {TS::pending, TE::ready_steps_found, kRejected},
    {TS::pending, TE::no_steps_found, kRejected},
    {TS::pending, TE::no_dependencies_ready, kRejected},
    {TS::pending, TE::steps_enqueued, kRejected},
    {TS::pending, TE::enqueue_failed, kRejected},
    {TS::pending, TE::step_completed, kRejected},
    {TS::pending, TE::all_steps_completed, kRejected},
    {TS::pending, TE::step_failed, kRejected},
    {TS::pending, TE::complete, kRejected},
    {TS::pending, TE::fail, kRejected},
    {TS::pending, TE::all_steps_successful, kRejected},
    {TS::pending, TE::permanent_failure, kRejected},
    {TS::pending, TE::dependencies_ready, kRejected},
    {TS::pending, TE::retry_ready, kRejected},
    {TS::pending, TE::give_up, kRejected},
    {TS::pending, TE::manual_resolution, kRejected},
    {TS::pending, TE::cancel, TS::cancelled},
    {TS::pending, TE::reset, kRejected},
    {TS::pending, TE::resolve_manually, TS::resolved_manually},
    {TS::pending, TE::expire, TS::error},
    // initializing
    {TS::initializing, TE::start, kRejected},
    {TS::initializing, TE::ready_steps_found, TS::enqueuing_steps},
    {TS::initializing, TE::no_steps_found, TS::complete},
    {TS::initializing, TE::no_dependencies_ready, TS::waiting_for_dependencies},
    {TS::initializing, TE::steps_enqueued, kRejected},
    {TS::initializing, TE::enqueue_failed, kRejected},
    {TS::initializing, TE::step_completed, kRejected},
    {TS::initializing, TE::all_steps_completed, kRejected},
    {TS::initializing, TE::step_failed, kRejected},
    {TS::initializing, TE::complete, kRejected},
    {TS::initializing, TE::fail, kRejected},
    {TS::initializing, TE::all_steps_successful, kRejected},
    {TS::initializing, TE::permanent_failure, kRejected},
    {TS::initializing, TE::dependencies_ready, kRejected},
    {TS::initializing, TE::retry_ready, kRejected},
    {TS::initializing, TE::give_up, kRejected},
    {TS::initializing, TE::manual_resolution, kRejected},
    {TS::initializing, TE::cancel, TS::cancelled},
    {TS::initializing, TE::reset, kRejected},
    {TS::initializing, TE::resolve_manually, TS::resolved_manually},
    {TS::initializing, TE::expire, TS::error},
    // enqueuing_steps
    {TS::enqueuing_steps, TE::start, kRejected},
    {TS::enqueuing_steps, TE::ready_steps_found, kRejected},
    {TS::enqueuing_steps, TE::no_steps_found, kRejected},
    {TS::enqueuing_steps, TE::no_dependencies_ready, kRejected},
    {TS::enqueuing_steps, TE::steps_enqueued, TS::steps_in_process},
    {TS::enqueuing_steps, TE::enqueue_failed, TS::error},
    {TS::enqueuing_steps, TE::step_completed, kRejected},
    {TS::enqueuing_steps, TE::all_steps_completed, kRejected},
    {TS::enqueuing_steps, TE::step_failed, kRejected},
    {TS::enqueuing_steps, TE::complete, kRejected},
    {TS::enqueuing_steps, TE::fail, kRejected},
    {TS::enqueuing_steps, TE::all_steps_successful, kRejected},
    {TS::enqueuing_steps, TE::permanent_failure, kRejected},
    {TS::enqueuing_steps, TE::dependencies_ready, kRejected},
    {TS::enqueuing_steps, TE::retry_ready, kRejected},
    {TS::enqueuing_steps, TE::give_up, kRejected},
    {TS::enqueuing_steps, TE::manual_resolution, kRejected},
    {TS::enqueuing_steps, TE::cancel, TS::cancelled},
    {TS::enqueuing_steps, TE::reset, kRejected},
    {TS::enqueuing_steps, TE::resolve_manually, TS::resolved_manually},
    {TS::enqueuing_steps, TE::expire, TS::error},
    // steps_in_process
    {TS::steps_in_process, TE::start, kRejected},
    {TS::steps_in_process, TE::ready_steps_found, kRejected},
    {TS::steps_in_process, TE::no_steps_found, kRejected},
    {TS::steps_in_process, TE::no_dependencies_ready, kRejected},
    {TS::steps_in_process, TE::steps_enqueued, kRejected},
    {TS::steps_in_process, TE::enqueue_failed, kRejected},
    {TS::steps_in_process, TE::step_completed, TS::evaluating_results},
    {TS::steps_in_process, TE::all_steps_completed, TS::evaluating_results},
    {TS::steps_in_process, TE::step_failed, TS::waiting_for_retry},
    {TS::steps_in_process, TE::complete, TS::complete},
    {TS::steps_in_process, TE::fail, TS::error},
    {TS::steps_in_process, TE::all_steps_successful, kRejected},
    {TS::steps_in_process, TE::permanent_failure, kRejected},
    {TS::steps_in_process, TE::dependencies_ready, kRejected},
    {TS::steps_in_process, TE::retry_ready, kRejected},
    {TS::steps_in_process, TE::give_up, kRejected},
    {TS::steps_in_process, TE::manual_resolution, kRejected},
    {TS::steps_in_process, TE::cancel, TS::cancelled},
    {TS::steps_in_process, TE::reset, kRejected},
    {TS::steps_in_process, TE::resolve_manually, TS::resolved_manually},
    {TS::steps_in_process, TE::expire, TS::error},
    // evaluating_results
    {TS::evaluating_results, TE::start, kRejected},
    {TS::evaluating_results, TE::ready_steps_found, TS::enqueuing_steps},
    {TS::evaluating_results, TE::no_steps_found, kRejected},
    {TS::evaluating_results, TE::no_dependencies_ready,
     TS::waiting_for_dependencies},
    {TS::evaluating_results, TE::steps_enqueued, kRejected},
    {TS::evaluating_results, TE::enqueue_failed, kRejected},
    {TS::evaluating_results, TE::step_completed, kRejected},
    {TS::evaluating_results, TE::all_steps_completed, kRejected},
    {TS::evaluating_results, TE::step_failed, TS::waiting_for_retry},
    {TS::evaluating_results, TE::complete, kRejected},
    {TS::evaluating_results, TE::fail, kRejected},
    {TS::evaluating_results, TE::all_steps_successful, TS::complete},
    {TS::evaluating_results, TE::permanent_failure, TS::blocked_by_failures},
    {TS::evaluating_results, TE::dependencies_ready, kRejected},
    {TS::evaluating_results, TE::retry_ready, kRejected},
    {TS::evaluating_results, TE::give_up, kRejected},
    {TS::evaluating_results, TE::manual_resolution, kRejected},
    {TS::evaluating_results, TE::cancel, TS::cancelled},
    {TS::evaluating_results, TE::reset, kRejected},
    {TS::evaluating_results, TE::resolve_manually, TS::resolved_manually},
    {TS::evaluating_results, TE::expire, TS::error},
    // waiting_for_dependencies
    {TS::waiting_for_dependencies, TE::start, kRejected},
    {TS::waiting_for_dependencies, TE::ready_steps_found, kRejected},
    {TS::waiting_for_dependencies, TE::no_steps_found, kRejected},
    {TS::waiting_for_dependencies, TE::no_dependencies_ready, kRejected},
    {TS::waiting_for_dependencies, TE::steps_enqueued, kRejected},
    {TS::waiting_for_dependencies, TE::enqueue_failed, kRejected},
    {TS::waiting_for_dependencies, TE::step_completed, kRejected},
    {TS::waiting_for_dependencies, TE::all_steps_completed, kRejected},
    {TS::waiting_for_dependencies, TE::step_failed, kRejected},
    {TS::waiting_for_dependencies, TE::complete, kRejected},
    {TS::waiting_for_dependencies, TE::fail, kRejected},
    {TS::waiting_for_dependencies, TE::all_steps_successful, kRejected},
    {TS::waiting_for_dependencies, TE::permanent_failure, kRejected},
    {TS::waiting_for_dependencies, TE::dependencies_ready,
     TS::evaluating_results},
    {TS::waiting_for_dependencies, TE::retry_ready, kRejected},
    {TS::waiting_for_dependencies, TE::give_up, kRejected},
    {TS::waiting_for_dependencies, TE::manual_resolution, kRejected},
    {TS::waiting_for_dependencies, TE::cancel, TS::cancelled},
    {TS::waiting_for_dependencies, TE::reset, kRejected},
    {TS::waiting_for_dependencies, TE::resolve_manually, TS::resolved_manually},
    {TS::waiting_for_dependencies, TE::expire, TS::error},
    // waiting_for_retry
    {TS::waiting_for_retry, TE::start, kRejected},
    {TS::waiting_for_retry, TE::ready_steps_found, kRejected},
    {TS::waiting_for_retry, TE::no_steps_found, kRejected},
    {TS::waiting_for_retry, TE::no_dependencies_ready, kRejected},
    {TS::waiting_for_retry, TE::steps_enqueued, kRejected},
    {TS::waiting_for_retry, TE::enqueue_failed, kRejected},
    {TS::waiting_for_retry, TE::step_completed, kRejected},
    {TS::waiting_for_retry, TE::all_steps_completed, kRejected},
    {TS::waiting_for_retry, TE::step_failed, kRejected},
    {TS::waiting_for_retry, TE::complete, kRejected},
    {TS::waiting_for_retry, TE::fail, kRejected},
    {TS::waiting_for_retry, TE::all_steps_successful, kRejected},
    {TS::waiting_for_retry, TE::permanent_failure, kRejected},
    {TS::waiting_for_retry, TE::dependencies_ready, kRejected},
    {TS::waiting_for_retry, TE::retry_ready, TS::enqueuing_steps},
    {TS::waiting_for_retry, TE::give_up, kRejected},
    {TS::waiting_for_retry, TE::manual_resolution, kRejected},
    {TS::waiting_for_retry, TE::cancel, TS::cancelled},
    {TS::waiting_for_retry, TE::reset, kRejected},
    {TS::waiting_for_retry, TE::resolve_manually, TS::resolved_manually},
    {TS::waiting_for_retry, TE::expire, TS::error},
    // blocked_by_failures
    {TS::blocked_by_failures, TE::start, kRejected},
    {TS::blocked_by_failures, TE::ready_steps_found, kRejected},
    {TS::blocked_by_failures, TE::no_steps_found, kRejected},
    {TS::blocked_by_failures, TE::no_dependencies_ready, kRejected},
    {TS::blocked_by_failures, TE::steps_enqueued, kRejected},
    {TS::blocked_by_failures, TE::enqueue_failed, kRejected},
    {TS::blocked_by_failures, TE::step_completed, kRejected},
    {TS::blocked_by_failures, TE::all_steps_completed, kRejected},
    {TS::blocked_by_failures, TE::step_failed, kRejected},
    {TS::blocked_by_failures, TE::complete, kRejected},
    {TS::blocked_by_failures, TE::fail, kRejected},
    {TS::blocked_by_failures, TE::all_steps_successful, kRejected},
    {TS::blocked_by_failures, TE::permanent_failure, kRejected},
    {TS::blocked_by_failures, TE::dependencies_ready, kRejected},
    {TS::blocked_by_failures, TE::retry_ready, kRejected},
    {TS::blocked_by_failures, TE::give_up, TS::error},
    {TS::blocked_by_failures, TE::manual_resolution, TS::resolved_manually},
    {TS::blocked_by_failures, TE::cancel, TS::cancelled},
    {TS::blocked_by_failures, TE::reset, kRejected},
    {TS::blocked_by_failures, TE::resolve_manually, TS::resolved_manually},
    {TS::blocked_by_failures, TE::expire, TS::error},
    // complete
    {TS::complete, TE::start, kRejected},
    {TS::complete, TE::ready_steps_found, kRejected},
    {TS::complete, TE::no_steps_found, kRejected},
    {TS::complete, TE::no_dependencies_ready, kRejected},
    {TS::complete, TE::steps_enqueued, kRejected},
    {TS::complete, TE::enqueue_failed, kRejected},
    {TS::complete, TE::step_completed, kRejected},
    {TS::complete, TE::all_steps_completed, kRejected},
    {TS::complete, TE::step_failed, kRejected},
    {TS::complete, TE::complete, kRejected},
    {TS::complete, TE::fail, kRejected},
    {TS::complete, TE::all_steps_successful, kRejected},
    {TS::complete, TE::permanent_failure, kRejected},
    {TS::complete, TE::dependencies_ready, kRejected},
    {TS::complete, TE::retry_ready, kRejected},
    {TS::complete, TE::give_up, kRejected},
    {TS::complete, TE::manual_resolution, kRejected},
    {TS::complete, TE::cancel, kRejected},
    {TS::complete, TE::reset, kRejected},
    {TS::complete, TE::resolve_manually, kRejected},
    {TS::complete, TE::expire, kRejected},
    // error
    {TS::error, TE::start, kRejected},
    {TS::error, TE::ready_steps_found, kRejected},
    {TS::error, TE::no_steps_found, kRejected},
    {TS::error, TE::no_dependencies_ready, kRejected},
    {TS::error, TE::steps_enqueued, kRejected},
    {TS::error, TE::enqueue_failed, kRejected},
    {TS::error, TE::step_completed, kRejected},
    {TS::error, TE::all_steps_completed, kRejected},
    {TS::error, TE::step_failed, kRejected},
    {TS::error, TE::complete, kRejected},
    {TS::error, TE::fail, kRejected},
    {TS::error, TE::all_steps_successful, kRejected},
    {TS::error, TE::permanent_failure, kRejected},
    {TS::error, TE::dependencies_ready, kRejected},
    {TS::error, TE::retry_ready, kRejected},
    {TS::error, TE::give_up, kRejected},
    {TS::error, TE::manual_resolution, kRejected},
    {TS::error, TE::cancel, kRejected},
    {TS::error, TE::reset, TS::pending},
    {TS::error, TE::resolve_manually, TS::resolved_manually},
    {TS::error, TE::expire, kRejected},
    // cancelled
    {TS::cancelled, TE::start, kRejected},
    {TS::cancelled, TE::ready_steps_found, kRejected},
    {TS::cancelled, TE::no_steps_found, kRejected},
    {TS::cancelled, TE::no_dependencies_ready, kRejected},
    {TS::cancelled, TE::steps_enqueued, kRejected},
    {TS::cancelled, TE::enqueue_failed, kRejected},
    {TS::cancelled, TE::step_completed, kRejected},
    {TS::cancelled, TE::all_steps_completed, kRejected},
    {TS::cancelled, TE::step_failed, kRejected},
    {TS::cancelled, TE::complete, kRejected},
    {TS::cancelled, TE::fail, kRejected},
    {TS::cancelled, TE::all_steps_successful, kRejected},
    {TS::cancelled, TE::permanent_failure, kRejected},
    {TS::cancelled, TE::dependencies_ready, kRejected},
    {TS::cancelled, TE::retry_ready, kRejected},
    {TS::cancelled, TE::give_up, kRejected},
    {TS::cancelled, TE::manual_resolution, kRejected},
    {TS::cancelled, TE::cancel, kRejected},
    {TS::cancelled, TE::reset, kRejected},
    {TS::cancelled, TE::resolve_manually, kRejected},
    {TS::cancelled, TE::expire, kRejected},
    // resolved_manually
    {TS::resolved_manually, TE::start, kRejected},
    {TS::resolved_manually, TE::ready_steps_found, kRejected},
    {TS::resolved_manually, TE::no_steps_found, kRejected},
    {TS::resolved_manually, TE::no_dependencies_ready, kRejected},
    {TS::resolved_manually, TE::steps_enqueued, kRejected},
    {TS::resolved_manually, TE::enqueue_failed, kRejected},
    {TS::resolved_manually, TE::step_completed, kRejected},
    {TS::resolved_manually, TE::all_steps_completed, kRejected},
    {TS::resolved_manually, TE::step_failed, kRejected},
    {TS::resolved_manually, TE::complete, kRejected},
    {TS::resolved_manually, TE::fail, kRejected},
    {TS::resolved_manually, TE::all_steps_successful, kRejected},
    {TS::resolved_manually, TE::permanent_failure, kRejected},
    {TS::resolved_manually, TE::dependencies_ready, kRejected},
    {TS::resolved_manually, TE::retry_ready, kRejected},
    {TS::resolved_manually, TE::give_up, kRejected},
    {TS::resolved_manually, TE::manual_resolution, kRejected},
    {TS::resolved_manually, TE::cancel, kRejected},
    {TS::resolved_manually, TE::reset, kRejected},
    {TS::resolved_manually, TE::resolve_manually, kRejected},
    {TS::resolved_manually, TE::expire, kRejected},
};

const std::vector<Row<SS, SE>> kStepTable = {
    // pending
    {SS::pending, SE::enqueue, SS::enqueued},
    {SS::pending, SE::start, kRejected},
    {SS::pending, SE::enqueue_for_orchestration, kRejected},
    {SS::pending, SE::enqueue_as_error_for_orchestration, kRejected},
    {SS::pending, SE::complete, kRejected},
    {SS::pending, SE::fail, kRejected},
    {SS::pending, SE::wait_for_retry, kRejected},
    {SS::pending, SE::retry, kRejected},
    {SS::pending, SE::reset_for_retry, kRejected},
    {SS::pending, SE::complete_manually, SS::complete},
    {SS::pending, SE::resolve_manually, SS::resolved_manually},
    {SS::pending, SE::cancel, SS::cancelled},
    // enqueued
    {SS::enqueued, SE::enqueue, kRejected},
    {SS::enqueued, SE::start, SS::in_progress},
    {SS::enqueued, SE::enqueue_for_orchestration,
     SS::enqueued_for_orchestration},
    {SS::enqueued, SE::enqueue_as_error_for_orchestration,
     SS::enqueued_as_error_for_orchestration},
    {SS::enqueued, SE::complete, kRejected},
    {SS::enqueued, SE::fail, kRejected},
    {SS::enqueued, SE::wait_for_retry, kRejected},
    {SS::enqueued, SE::retry, kRejected},
    {SS::enqueued, SE::reset_for_retry, kRejected},
    {SS::enqueued, SE::complete_manually, SS::complete},
    {SS::enqueued, SE::resolve_manually, SS::resolved_manually},
    {SS::enqueued, SE::cancel, SS::cancelled},
    // in_progress
    {SS::in_progress, SE::enqueue, kRejected},
    {SS::in_progress, SE::start, kRejected},
    {SS::in_progress, SE::enqueue_for_orchestration,
     SS::enqueued_for_orchestration},
    {SS::in_progress, SE::enqueue_as_error_for_orchestration,
     SS::enqueued_as_error_for_orchestration},
    {SS::in_progress, SE::complete, kRejected},
    {SS::in_progress, SE::fail, kRejected},
    {SS::in_progress, SE::wait_for_retry, kRejected},
    {SS::in_progress, SE::retry, kRejected},
    {SS::in_progress, SE::reset_for_retry, kRejected},
    {SS::in_progress, SE::complete_manually, SS::complete},
    {SS::in_progress, SE::resolve_manually, SS::resolved_manually},
    {SS::in_progress, SE::cancel, SS::cancelled},
    // enqueued_for_orchestration
    {SS::enqueued_for_orchestration, SE::enqueue, kRejected},
    {SS::enqueued_for_orchestration, SE::start, kRejected},
    {SS::enqueued_for_orchestration, SE::enqueue_for_orchestration, kRejected},
    {SS::enqueued_for_orchestration, SE::enqueue_as_error_for_orchestration,
     kRejected},
    {SS::enqueued_for_orchestration, SE::complete, SS::complete},
    {SS::enqueued_for_orchestration, SE::fail, SS::error},
    {SS::enqueued_for_orchestration, SE::wait_for_retry, kRejected},
    {SS::enqueued_for_orchestration, SE::retry, kRejected},
    {SS::enqueued_for_orchestration, SE::reset_for_retry, kRejected},
    {SS::enqueued_for_orchestration, SE::complete_manually, SS::complete},
    {SS::enqueued_for_orchestration, SE::resolve_manually,
     SS::resolved_manually},
    {SS::enqueued_for_orchestration, SE::cancel, SS::cancelled},
    // enqueued_as_error_for_orchestration
    {SS::enqueued_as_error_for_orchestration, SE::enqueue, kRejected},
    {SS::enqueued_as_error_for_orchestration, SE::start, kRejected},
    {SS::enqueued_as_error_for_orchestration, SE::enqueue_for_orchestration,
     kRejected},
    {SS::enqueued_as_error_for_orchestration,
     SE::enqueue_as_error_for_orchestration, kRejected},
    {SS::enqueued_as_error_for_orchestration, SE::complete, SS::complete},
    {SS::enqueued_as_error_for_orchestration, SE::fail, SS::error},
    {SS::enqueued_as_error_for_orchestration, SE::wait_for_retry,
     SS::waiting_for_retry},
    {SS::enqueued_as_error_for_orchestration, SE::retry, kRejected},
    {SS::enqueued_as_error_for_orchestration, SE::reset_for_retry, kRejected},
    {SS::enqueued_as_error_for_orchestration, SE::complete_manually,
     SS::complete},
    {SS::enqueued_as_error_for_orchestration, SE::resolve_manually,
     SS::resolved_manually},
    {SS::enqueued_as_error_for_orchestration, SE::cancel, SS::cancelled},
    // waiting_for_retry
    {SS::waiting_for_retry, SE::enqueue, kRejected},
    {SS::waiting_for_retry, SE::start, kRejected},
    {SS::waiting_for_retry, SE::enqueue_for_orchestration, kRejected},
    {SS::waiting_for_retry, SE::enqueue_as_error_for_orchestration, kRejected},
    {SS::waiting_for_retry, SE::complete, kRejected},
    {SS::waiting_for_retry, SE::fail, kRejected},
    {SS::waiting_for_retry, SE::wait_for_retry, kRejected},
    {SS::waiting_for_retry, SE::retry, SS::pending},
    {SS::waiting_for_retry, SE::reset_for_retry, kRejected},
    {SS::waiting_for_retry, SE::complete_manually, SS::complete},
    {SS::waiting_for_retry, SE::resolve_manually, SS::resolved_manually},
    {SS::waiting_for_retry, SE::cancel, SS::cancelled},
    // complete
    {SS::complete, SE::enqueue, kRejected},
    {SS::complete, SE::start, kRejected},
    {SS::complete, SE::enqueue_for_orchestration, kRejected},
    {SS::complete, SE::enqueue_as_error_for_orchestration, kRejected},
    {SS::complete, SE::complete, kRejected},
    {SS::complete, SE::fail, kRejected},
    {SS::complete, SE::wait_for_retry, kRejected},
    {SS::complete, SE::retry, kRejected},
    {SS::complete, SE::reset_for_retry, kRejected},
    {SS::complete, SE::complete_manually, kRejected},
    {SS::complete, SE::resolve_manually, kRejected},
    {SS::complete, SE::cancel, kRejected},
    // error
    {SS::error, SE::enqueue, kRejected},
    {SS::error, SE::start, kRejected},
    {SS::error, SE::enqueue_for_orchestration, kRejected},
    {SS::error, SE::enqueue_as_error_for_orchestration, kRejected},
    {SS::error, SE::complete, kRejected},
    {SS::error, SE::fail, kRejected},
    {SS::error, SE::wait_for_retry, kRejected},
    {SS::error, SE::retry, SS::pending},
    {SS::error, SE::reset_for_retry, SS::pending},
    {SS::error, SE::complete_manually, SS::complete},
    {SS::error, SE::resolve_manually, SS::resolved_manually},
    {SS::error, SE::cancel, SS::cancelled},
    // cancelled
    {SS::cancelled, SE::enqueue, kRejected},
    {SS::cancelled, SE::start, kRejected},
    {SS::cancelled, SE::enqueue_for_orchestration, kRejected},
    {SS::cancelled, SE::enqueue_as_error_for_orchestration, kRejected},
    {SS::cancelled, SE::complete, kRejected},
    {SS::cancelled, SE::fail, kRejected},
    {SS::cancelled, SE::wait_for_retry, kRejected},
    {SS::cancelled, SE::retry, kRejected},
    {SS::cancelled, SE::reset_for_retry, kRejected},
    {SS::cancelled, SE::complete_manually, kRejected},
    {SS::cancelled, SE::resolve_manually, kRejected},
    {SS::cancelled, SE::cancel, kRejected},
    // resolved_manually
    {SS::resolved_manually, SE::enqueue, kRejected},
    {SS::resolved_manually, SE::start, kRejected},
    {SS::resolved_manually, SE::enqueue_for_orchestration, kRejected},
    {SS::resolved_manually, SE::enqueue_as_error_for_orchestration, kRejected},
    {SS::resolved_manually, SE::complete, kRejected},
    {SS::resolved_manually, SE::fail, kRejected},
    {SS::resolved_manually, SE::wait_for_retry, kRejected},
    {SS::resolved_manually, SE::retry, kRejected},
    {SS::resolved_manually, SE::reset_for_retry, kRejected},
    {SS::resolved_manually, SE::complete_manually, kRejected},
    {SS::resolved_manually, SE::resolve_manually, kRejected},
    {SS::resolved_manually, SE::cancel, kRejected},
};

/// Checks that `table` holds every state x event pair exactly once, and that
/// `next_state` agrees with every cell.
template <class State, class Event, class States, class Events>
void check_table(const std::vector<Row<State, Event>>& table,
                 const States& states, const Events& events) {
  std::map<std::pair<State, Event>, int> seen;
  for (const auto& row : table) {
    ++seen[{row.from, row.event}];
    CAPTURE(to_string(row.from));
    CAPTURE(to_string(row.event));
    CHECK(next_state(row.from, row.event) == row.to);
  }
  CHECK(table.size() == states.size() * events.size());
  for (auto state : states) {
    for (auto event : events) {
      CAPTURE(to_string(state));
      CAPTURE(to_string(event));
      CHECK(seen[{state, event}] == 1);
    }
  }
}

} // namespace

TEST_CASE("every task state and event has the outcome of the task table") {
  check_table(kTaskTable, kAllTaskStates, kAllTaskEvents);
}

TEST_CASE("every step state and event has the outcome of the step table") {
  check_table(kStepTable, kAllStepStates, kAllStepEvents);
}

TEST_CASE("task states and events round-trip through their database names") {
  const std::vector<std::pair<TS, std::string_view>> states = {
      {TS::pending, "pending"},
      {TS::initializing, "initializing"},
      {TS::enqueuing_steps, "enqueuing_steps"},
      {TS::steps_in_process, "steps_in_process"},
      {TS::evaluating_results, "evaluating_results"},
      {TS::waiting_for_dependencies, "waiting_for_dependencies"},
      {TS::waiting_for_retry, "waiting_for_retry"},
      {TS::blocked_by_failures, "blocked_by_failures"},
      {TS::complete, "complete"},
      {TS::error, "error"},
      {TS::cancelled, "cancelled"},
      {TS::resolved_manually, "resolved_manually"},
  };
  REQUIRE(states.size() == kAllTaskStates.size());
  for (std::size_t i = 0; i < states.size(); ++i) {
    auto [state, name] = states[i];
    CHECK(kAllTaskStates[i] == state);
    CHECK(to_string(state) == name);
    CHECK(parse_task_state(name) == state);
  }
  const std::vector<std::pair<TE, std::string_view>> events = {
      {TE::start, "start"},
      {TE::ready_steps_found, "ready_steps_found"},
      {TE::no_steps_found, "no_steps_found"},
      {TE::no_dependencies_ready, "no_dependencies_ready"},
      {TE::steps_enqueued, "steps_enqueued"},
      {TE::enqueue_failed, "enqueue_failed"},
      {TE::step_completed, "step_completed"},
      {TE::all_steps_completed, "all_steps_completed"},
      {TE::step_failed, "step_failed"},
      {TE::complete, "complete"},
      {TE::fail, "fail"},
      {TE::all_steps_successful, "all_steps_successful"},
      {TE::permanent_failure, "permanent_failure"},
      {TE::dependencies_ready, "dependencies_ready"},
      {TE::retry_ready, "retry_ready"},
      {TE::give_up, "give_up"},
      {TE::manual_resolution, "manual_resolution"},
      {TE::cancel, "cancel"},
      {TE::reset, "reset"},
      {TE::resolve_manually, "resolve_manually"},
      {TE::expire, "expire"},
  };
  REQUIRE(events.size() == kAllTaskEvents.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto [event, name] = events[i];
    CHECK(kAllTaskEvents[i] == event);
    CHECK(to_string(event) == name);
    CHECK(parse_task_event(name) == event);
  }
}

TEST_CASE("step states and events round-trip through their database names") {
  const std::vector<std::pair<SS, std::string_view>> states = {
      {SS::pending, "pending"},
      {SS::enqueued, "enqueued"},
      {SS::in_progress, "in_progress"},
      {SS::enqueued_for_orchestration, "enqueued_for_orchestration"},
      {SS::enqueued_as_error_for_orchestration,
       "enqueued_as_error_for_orchestration"},
      {SS::waiting_for_retry, "waiting_for_retry"},
      {SS::complete, "complete"},
      {SS::error, "error"},
      {SS::cancelled, "cancelled"},
      {SS::resolved_manually, "resolved_manually"},
  };
  REQUIRE(states.size() == kAllStepStates.size());
  for (std::size_t i = 0; i < states.size(); ++i) {
    auto [state, name] = states[i];
    CHECK(kAllStepStates[i] == state);
    CHECK(to_string(state) == name);
    CHECK(parse_step_state(name) == state);
  }
  const std::vector<std::pair<SE, std::string_view>> events = {
      {SE::enqueue, "enqueue"},
      {SE::start, "start"},
      {SE::enqueue_for_orchestration, "enqueue_for_orchestration"},
      {SE::enqueue_as_error_for_orchestration,
       "enqueue_as_error_for_orchestration"},
      {SE::complete, "complete"},
      {SE::fail, "fail"},
      {SE::wait_for_retry, "wait_for_retry"},
      {SE::retry, "retry"},
      {SE::reset_for_retry, "reset_for_retry"},
      {SE::complete_manually, "complete_manually"},
      {SE::resolve_manually, "resolve_manually"},
      {SE::cancel, "cancel"},
  };
  REQUIRE(events.size() == kAllStepEvents.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto [event, name] = events[i];
    CHECK(kAllStepEvents[i] == event);
    CHECK(to_string(event) == name);
    CHECK(parse_step_event(name) == event);
  }
}

TEST_CASE("unknown spellings of states and events are rejected") {
  for (std::string_view text :
       {"", "Pending", "PENDING", " pending", "pending ", "in-progress",
        "InProgress", "resolved", "unknown", "complete\n", "cancel"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_task_state(text).has_value());
    CHECK_FALSE(parse_step_state(text).has_value());
  }
  for (std::string_view text :
       {"", "Start", "START", " start", "start ", "ready-steps-found",
        "ReadyStepsFound", "resolved_manually", "cancelled", "unknown"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_task_event(text).has_value());
    CHECK_FALSE(parse_step_event(text).has_value());
  }
  CHECK_FALSE(parse_task_state("in_progress").has_value());
  CHECK_FALSE(parse_step_state("initializing").has_value());
  CHECK_FALSE(parse_task_event("enqueue").has_value());
  CHECK_FALSE(parse_step_event("give_up").has_value());
}

TEST_CASE("complete, error, cancelled and resolved_manually end a task") {
  const std::set<TS> terminal
      = {TS::complete, TS::error, TS::cancelled, TS::resolved_manually};
  for (auto state : kAllTaskStates) {
    CAPTURE(to_string(state));
    CHECK(is_terminal(state) == terminal.contains(state));
  }
}

TEST_CASE("complete, cancelled and resolved_manually end a step, error not") {
  const std::set<SS> terminal
      = {SS::complete, SS::cancelled, SS::resolved_manually};
  for (auto state : kAllStepStates) {
    CAPTURE(to_string(state));
    CHECK(is_terminal(state) == terminal.contains(state));
  }
}

TEST_CASE("only complete and resolved_manually steps satisfy a dependency") {
  const std::set<SS> satisfying = {SS::complete, SS::resolved_manually};
  for (auto state : kAllStepStates) {
    CAPTURE(to_string(state));
    CHECK(satisfies_dependency(state) == satisfying.contains(state));
  }
}

TEST_CASE("a terminal task leaves only from error, by reset or resolution") {
  for (auto state : kAllTaskStates) {
    if (!is_terminal(state)) {
      continue;
    }
    for (auto event : kAllTaskEvents) {
      CAPTURE(to_string(state));
      CAPTURE(to_string(event));
      const bool allowed
          = state == TS::error
            && (event == TE::reset || event == TE::resolve_manually);
      CHECK(next_state(state, event).has_value() == allowed);
    }
  }
}

TEST_CASE("a terminal step has no outgoing transition") {
  for (auto state : kAllStepStates) {
    if (!is_terminal(state)) {
      continue;
    }
    for (auto event : kAllStepEvents) {
      CAPTURE(to_string(state));
      CAPTURE(to_string(event));
      CHECK_FALSE(next_state(state, event).has_value());
    }
  }
}

TEST_CASE("no transition leads back to the state it leaves") {
  for (auto state : kAllTaskStates) {
    for (auto event : kAllTaskEvents) {
      CAPTURE(to_string(state));
      CAPTURE(to_string(event));
      CHECK(next_state(state, event) != state);
    }
  }
  for (auto state : kAllStepStates) {
    for (auto event : kAllStepEvents) {
      CAPTURE(to_string(state));
      CAPTURE(to_string(event));
      CHECK(next_state(state, event) != state);
    }
  }
}
