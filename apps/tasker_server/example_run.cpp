#include "apps/tasker_server/example_run.hpp"

#include "channels/actor_interfaces.hpp"

#include <caf/scoped_actor.hpp>

#include <condition_variable>
#include <iomanip>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tasker::apps {

namespace {

using orchestration::StepState;
using orchestration::TaskState;
using Clock = orchestration::TaskCompletionWatch::SteadyClock;

struct Watched {
  std::string label;
  std::string task_id;
  Clock::time_point submitted;
  std::set<std::string> reported_steps;
  bool finished = false;
  bool complete = false;
};

// Prints the steps of `snapshot` that finished, and the task's end (at
// `at`) once it is terminal.
void report(Watched& task, const orchestration::TaskSnapshot& snapshot,
            Clock::time_point at, std::ostream& out) {
  for (const auto& step : snapshot.steps) {
    bool done = step.state == StepState::complete
                || step.state == StepState::error
                || step.state == StepState::resolved_manually
                || step.state == StepState::cancelled;
    if (!done || !task.reported_steps.insert(step.name).second)
      continue;
    out << "    " << std::left << std::setw(24) << step.name << " "
        << std::setw(9) << orchestration::to_string(step.state) << " "
        << (step.state == StepState::error ? step.last_error.dump()
                                           : step.results.dump())
        << "  (attempt " << step.attempts << ")\n";
  }
  if (!orchestration::is_terminal(snapshot.task.state))
    return;
  task.finished = true;
  task.complete = snapshot.task.state == TaskState::complete;
  out << "==> " << task.label << ": task " << task.task_id << " "
      << orchestration::to_string(snapshot.task.state) << " in " << std::fixed
      << std::setprecision(1)
      << std::chrono::duration<double, std::milli>(at - task.submitted).count()
      << " ms\n";
}

} // namespace

bool run_examples(caf::actor_system& system,
                  orchestration::OrchestrationNode& node,
                  const config::TemplateCatalog& catalog,
                  const nlohmann::json& context, std::ostream& out,
                  std::chrono::seconds limit) {
  caf::scoped_actor self{system};
  auto store = node.store();
  std::vector<Watched> tasks;
  for (const auto& tmpl : catalog.templates()) {
    Watched task;
    task.label = tmpl.namespace_name + "/" + tmpl.name + " " + tmpl.version;
    channels::TaskRequest request;
    request.namespace_name = tmpl.namespace_name;
    request.name = tmpl.name;
    request.version = tmpl.version;
    request.context_json = context.dump();
    request.initiator = "tasker-server --run-examples";
    // A new task on every run, even with the same context.
    request.idempotency_key
        = "run-examples-" + tmpl.namespace_name + "-" + tmpl.name + "-"
          + std::to_string(
              std::chrono::system_clock::now().time_since_epoch().count());
    task.submitted = Clock::now();
    bool ok = false;
    self->request(node.processor(), limit, channels::InitializeTask{request})
        .receive(
            [&](channels::TaskInitialized& created) {
              task.task_id = created.task_id;
              ok = true;
            },
            [&](caf::error& err) {
              out << "==> " << task.label
                  << ": not created: " << caf::to_string(err) << "\n";
            });
    if (!ok)
      return false;
    out << "==> " << task.label << ": task " << task.task_id << " created with "
        << request.context_json << "\n";
    tasks.push_back(std::move(task));
  }
  // Each task is answered once by the store's completion watch: finished,
  // or not at the deadline.
  std::mutex mutex;
  std::condition_variable answered;
  std::map<std::size_t, std::pair<std::optional<orchestration::TaskSnapshot>,
                                  Clock::time_point>>
      answers;
  auto& watch = store.completions();
  auto deadline = Clock::now() + limit;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    auto answer = [&, i](std::optional<orchestration::TaskSnapshot> task) {
      std::lock_guard<std::mutex> guard{mutex};
      answers[i] = {std::move(task), Clock::now()};
      answered.notify_one();
    };
    auto ticket = watch.wait(tasks[i].task_id, deadline, answer);
    auto current = store.load(tasks[i].task_id);
    if (current && orchestration::is_terminal(current->task.state)
        && watch.cancel(ticket))
      answer(std::move(*current));
  }
  std::size_t finished = 0;
  std::unique_lock<std::mutex> lock{mutex};
  for (std::size_t seen = 0; seen < tasks.size();) {
    answered.wait(lock, [&] {
      return answers.size() > seen;
    });
    for (auto& [i, answer] : answers) {
      auto& [snapshot, at] = answer;
      if (tasks[i].finished || !snapshot)
        continue;
      report(tasks[i], *snapshot, at, out);
      finished += tasks[i].finished ? 1 : 0;
    }
    seen = answers.size();
    out.flush();
  }
  bool all_complete = finished == tasks.size();
  for (const auto& task : tasks) {
    all_complete = all_complete && task.complete;
    if (!task.finished)
      out << "==> " << task.label << ": task " << task.task_id
          << " did not finish within " << limit.count() << " s\n";
  }
  return all_complete;
}

} // namespace tasker::apps
