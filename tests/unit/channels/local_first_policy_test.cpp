#include "channels/local_first_policy.hpp"

#include <doctest/doctest.h>

#include <vector>

namespace tasker::channels {
namespace {

// A job the policy only passes around.
class Job : public caf::resumable {
 public:
  resume_result resume(caf::execution_unit*, size_t) override {
    return done;
  }
  void intrusive_ptr_add_ref_impl() override {}
  void intrusive_ptr_release_impl() override {}
};

// The parts of CAF's coordinator and worker the policy reaches, without
// their threads: each call below is what a scheduler thread would make.
struct Coordinator {
  LocalFirstPolicy::coordinator_data& data() {
    return shared;
  }
  LocalFirstPolicy::coordinator_data shared{nullptr};
};

struct Worker {
  explicit Worker(Coordinator& coordinator) : coordinator{&coordinator} {}
  Coordinator* parent() {
    return coordinator;
  }
  LocalFirstPolicy::worker_data& data() {
    return local;
  }
  Coordinator* coordinator;
  LocalFirstPolicy::worker_data local{nullptr};
};

std::vector<caf::resumable*> shared_jobs(Coordinator& coordinator) {
  return {coordinator.shared.queue.begin(), coordinator.shared.queue.end()};
}

} // namespace

TEST_CASE("a job made ready by the running actor runs next on the same "
          "thread, without entering the shared queue") {
  LocalFirstPolicy policy;
  Coordinator coordinator;
  Worker worker{coordinator};
  Job job;
  policy.internal_enqueue(&worker, &job);
  CHECK(shared_jobs(coordinator).empty());
  CHECK(coordinator.shared.queued.load() == 0);
  CHECK(policy.dequeue(&worker) == &job);
  CHECK(worker.local.next == nullptr);
}

TEST_CASE("a second job made ready before the first ran sends the first to "
          "the shared queue, where another thread may take it") {
  LocalFirstPolicy policy;
  Coordinator coordinator;
  Worker worker{coordinator};
  Worker other{coordinator};
  Job first;
  Job second;
  policy.internal_enqueue(&worker, &first);
  policy.internal_enqueue(&worker, &second);
  CHECK(shared_jobs(coordinator) == std::vector<caf::resumable*>{&first});
  CHECK(coordinator.shared.queued.load() == 1);
  CHECK(policy.dequeue(&other) == &first);
  CHECK(policy.dequeue(&worker) == &second);
}

TEST_CASE("jobs from outside the scheduler and jobs resumed later go to the "
          "shared queue in order") {
  LocalFirstPolicy policy;
  Coordinator coordinator;
  Worker worker{coordinator};
  Job spawned;
  Job sent_to;
  Job yielded;
  policy.central_enqueue(&coordinator, &spawned);
  policy.external_enqueue(&worker, &sent_to);
  policy.resume_job_later(&worker, &yielded);
  CHECK(shared_jobs(coordinator)
        == std::vector<caf::resumable*>{&spawned, &sent_to, &yielded});
  CHECK(policy.dequeue(&worker) == &spawned);
  CHECK(policy.dequeue(&worker) == &sent_to);
  CHECK(policy.dequeue(&worker) == &yielded);
  CHECK(coordinator.shared.queued.load() == 0);
}

TEST_CASE("after a run of kept jobs a thread takes the shared queue's oldest "
          "job first, the kept one queued behind it") {
  LocalFirstPolicy policy;
  Coordinator coordinator;
  Worker worker{coordinator};
  Job chained;
  Job waiting;
  policy.external_enqueue(&worker, &waiting);
  for (int run = 0; run < LocalFirstPolicy::kLocalRunLimit; ++run) {
    policy.internal_enqueue(&worker, &chained);
    REQUIRE(policy.dequeue(&worker) == &chained);
  }
  policy.internal_enqueue(&worker, &chained);
  CHECK(policy.dequeue(&worker) == &waiting);
  CHECK(shared_jobs(coordinator) == std::vector<caf::resumable*>{&chained});
  CHECK(policy.dequeue(&worker) == &chained);
  SUBCASE("the run starts again after a job from the shared queue") {
    policy.internal_enqueue(&worker, &chained);
    policy.external_enqueue(&worker, &waiting);
    CHECK(policy.dequeue(&worker) == &chained);
  }
}

TEST_CASE("with nothing else waiting a chain of kept jobs runs on past the "
          "limit") {
  LocalFirstPolicy policy;
  Coordinator coordinator;
  Worker worker{coordinator};
  Job chained;
  for (int run = 0; run < 3 * LocalFirstPolicy::kLocalRunLimit; ++run) {
    policy.internal_enqueue(&worker, &chained);
    REQUIRE(policy.dequeue(&worker) == &chained);
  }
  CHECK(shared_jobs(coordinator).empty());
}

TEST_CASE("at shutdown every job left, kept or shared, is handed over once") {
  LocalFirstPolicy policy;
  Coordinator coordinator;
  Worker worker{coordinator};
  Job kept;
  Job shared;
  policy.internal_enqueue(&worker, &kept);
  policy.central_enqueue(&coordinator, &shared);
  std::vector<caf::resumable*> left;
  auto collect = [&](caf::resumable* job) {
    left.push_back(job);
  };
  policy.foreach_resumable(&worker, collect);
  policy.foreach_central_resumable(&coordinator, collect);
  policy.foreach_resumable(&worker, collect);
  policy.foreach_central_resumable(&coordinator, collect);
  CHECK(left == std::vector<caf::resumable*>{&kept, &shared});
  CHECK(coordinator.shared.queued.load() == 0);
}

} // namespace tasker::channels
