#include "apps/tasker_server/example_run.hpp"

#include "channels/actor_interfaces.hpp"

#include <caf/scoped_actor.hpp>

#include <iomanip>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace tasker::apps {

namespace {

using orchestration::StepState;
using orchestration::TaskState;
using Clock = std::chrono::steady_clock;

struct Watched {
  std::string label;
  std::string task_id;
  Clock::time_point submitted;
  std::set<std::string> reported_steps;
  bool finished = false;
  bool complete = false;
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

// Prints the steps of `snapshot` that finished since the last look, and
// the task's end once it is terminal.
void report(Watched& task, const orchestration::TaskSnapshot& snapshot,
            std::ostream& out) {
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
      << std::setprecision(1) << ms_since(task.submitted) << " ms\n";
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
  auto deadline = Clock::now() + limit;
  std::size_t finished = 0;
  while (finished < tasks.size() && Clock::now() < deadline) {
    for (auto& task : tasks) {
      if (task.finished)
        continue;
      auto snapshot = store.load(task.task_id);
      if (!snapshot)
        continue;
      report(task, *snapshot, out);
      finished += task.finished ? 1 : 0;
    }
    out.flush();
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
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
