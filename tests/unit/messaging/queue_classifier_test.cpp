#include "messaging/queue_classifier.hpp"

#include <doctest/doctest.h>

using namespace tasker::messaging;

TEST_CASE("orchestration queues are classified by role and back") {
  for (auto role : {QueueRole::task_requests, QueueRole::step_results,
                    QueueRole::task_finalizations}) {
    auto queue = QueueClassifier::queue_for(role);
    REQUIRE(queue.has_value());
    auto c = QueueClassifier::classify(*queue);
    CHECK(c.role == role);
    CHECK_FALSE(c.namespace_name.has_value());
  }
  CHECK(QueueClassifier::classify("orchestration_step_results").role
        == QueueRole::step_results);
}

TEST_CASE("worker queues carry their namespace") {
  auto c = QueueClassifier::classify("worker_fulfillment_queue");
  CHECK(c.role == QueueRole::worker_steps);
  CHECK(c.namespace_name == std::optional<std::string>{"fulfillment"});
  CHECK(QueueClassifier::worker_queue("fulfillment")
        == "worker_fulfillment_queue");
  CHECK_FALSE(QueueClassifier::queue_for(QueueRole::worker_steps));
}

TEST_CASE("dead-letter queues are recognised with their owner's namespace") {
  auto worker = QueueClassifier::classify("worker_billing_queue_dlq");
  CHECK(worker.role == QueueRole::dead_letter);
  CHECK(worker.namespace_name == std::optional<std::string>{"billing"});
  auto results = QueueClassifier::classify("orchestration_step_results_dlq");
  CHECK(results.role == QueueRole::dead_letter);
  CHECK_FALSE(results.namespace_name.has_value());
}

TEST_CASE("anything else is unknown") {
  for (auto q :
       {"orders", "worker_queue", "orchestration_other", "worker__queue", ""})
    CHECK(QueueClassifier::classify(q).role == QueueRole::unknown);
  CHECK(to_string(QueueRole::unknown) == "unknown");
}
