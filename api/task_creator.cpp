#include "api/task_creator.hpp"

#include "channels/event_system_messages.hpp"
#include "channels/type_ids.hpp"

#include <caf/actor_clock.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace tasker::api {

struct TaskCreator::Waiting {
  struct Creation {
    caf::actor_clock::time_point deadline;
    Done done;
  };

  explicit Waiting(caf::actor_clock& clock) : clock(clock) {}

  // The actor system's clock (the test coordinator's in tests).
  caf::actor_clock& clock;
  std::mutex mutex;
  // By id, which is also the order of the deadlines (one timeout for all).
  std::map<uint64_t, Creation> creations;
  uint64_t next_id = 1;
  bool stopped = false;

  // Takes `done` over; its id, or nothing (and `done` left) when stopped.
  std::optional<uint64_t> add(Done& done, std::chrono::milliseconds timeout) {
    std::lock_guard<std::mutex> guard{mutex};
    if (stopped)
      return std::nullopt;
    auto id = next_id++;
    creations.emplace(id, Creation{clock.now() + timeout, std::move(done)});
    return id;
  }

  // The callback of creation `id` if it still waits, removed.
  Done take(uint64_t id) {
    std::lock_guard<std::mutex> guard{mutex};
    auto i = creations.find(id);
    if (i == creations.end())
      return {};
    auto done = std::move(i->second.done);
    creations.erase(i);
    return done;
  }

  // The callbacks of the creations past their deadline, removed.
  std::vector<Done> take_overdue() {
    std::lock_guard<std::mutex> guard{mutex};
    std::vector<Done> due;
    auto now = clock.now();
    while (!creations.empty() && creations.begin()->second.deadline <= now) {
      due.push_back(std::move(creations.begin()->second.done));
      creations.erase(creations.begin());
    }
    return due;
  }

  std::vector<Done> stop() {
    std::lock_guard<std::mutex> guard{mutex};
    stopped = true;
    std::vector<Done> all;
    for (auto& [id, creation] : creations)
      all.push_back(std::move(creation.done));
    creations.clear();
    return all;
  }

  bool empty() {
    std::lock_guard<std::mutex> guard{mutex};
    return creations.empty();
  }
};

namespace {

caf::error timed_out() {
  return caf::make_error(caf::sec::request_timeout);
}

} // namespace

TaskCreator::TaskCreator(caf::actor_system& system, caf::actor processor,
                         TaskCreatorOptions options)
    : timeout_(options.timeout),
      waiting_(std::make_shared<Waiting>(system.clock())) {
  auto waiting = waiting_;
  actor_ = system.spawn([waiting, processor, options](
                            caf::event_based_actor* self) -> caf::behavior {
    auto check_scheduled = std::make_shared<bool>(false);
    auto schedule_check
        = [self, check_scheduled, interval = options.check_interval] {
            if (*check_scheduled)
              return;
            *check_scheduled = true;
            self->delayed_send(self, interval, channels::CreationsDue{});
          };
    return {
        [self, waiting, processor,
         schedule_check](uint64_t id, channels::InitializeTask& command) {
          // Without a timeout of its own: the periodic check answers it.
          self->request(processor, caf::infinite, std::move(command))
              .then(
                  [waiting, id](channels::TaskInitialized& initialized) {
                    if (auto done = waiting->take(id))
                      done(std::move(initialized));
                  },
                  [waiting, id](caf::error& err) {
                    if (auto done = waiting->take(id))
                      done(std::move(err));
                  });
          schedule_check();
        },
        [waiting, check_scheduled, schedule_check](channels::CreationsDue) {
          *check_scheduled = false;
          for (auto& done : waiting->take_overdue())
            done(timed_out());
          if (!waiting->empty())
            schedule_check();
        },
    };
  });
}

TaskCreator::~TaskCreator() {
  close();
  caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
}

void TaskCreator::close() {
  for (auto& done : waiting_->stop())
    done(timed_out());
}

void TaskCreator::create(channels::InitializeTask command, Done done) {
  auto id = waiting_->add(done, timeout_);
  if (!id)
    return done(timed_out());
  caf::anon_send(actor_, *id, std::move(command));
}

} // namespace tasker::api
