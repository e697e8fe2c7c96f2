#include "config/queue_names.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace tasker::config;

TEST_CASE("worker queues follow worker_{namespace}_queue") {
  CHECK(worker_queue_name("fulfillment") == "worker_fulfillment_queue");
  CHECK(dead_letter_queue_name("worker_fulfillment_queue")
        == "worker_fulfillment_queue_dlq");
  CHECK(namespace_of_worker_queue("worker_fulfillment_queue")
        == std::optional<std::string>{"fulfillment"});
  CHECK_FALSE(namespace_of_worker_queue(kStepResultsQueue).has_value());
  CHECK_FALSE(namespace_of_worker_queue("worker__queue").has_value());
}

TEST_CASE("the orchestration queues are valid names") {
  for (auto q :
       {kTaskRequestsQueue, kStepResultsQueue, kTaskFinalizationsQueue}) {
    CHECK(validate_queue_name(q).ok());
    CHECK(validate_queue_name(dead_letter_queue_name(q)).ok());
  }
}

TEST_CASE("queue names are checked for length, characters and first char") {
  CHECK(validate_queue_name(std::string(47, 'a')).ok());
  auto too_long = validate_queue_name(std::string(48, 'a'));
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.error().message().find("48 characters, the maximum is 47")
        != std::string::npos);
  auto upper = validate_queue_name("Orders");
  REQUIRE_FALSE(upper.ok());
  CHECK(upper.error().message().find("'O' at position 1") != std::string::npos);
  CHECK_FALSE(validate_queue_name("orders-eu").ok());
  CHECK_FALSE(validate_queue_name("a;drop table").ok());
  auto digit = validate_queue_name("1orders");
  REQUIRE_FALSE(digit.ok());
  CHECK(digit.error().message().find("starts with a digit")
        != std::string::npos);
  CHECK_FALSE(validate_queue_name("").ok());
  CHECK(validate_queue_name("_private_queue").ok());
}

TEST_CASE("a namespace must leave room for its queue and dead-letter queue") {
  CHECK(kMaxNamespaceLength == 30);
  std::string longest(kMaxNamespaceLength, 'n');
  CHECK(validate_namespace(longest).ok());
  CHECK(validate_queue_name(dead_letter_queue_name(worker_queue_name(longest)))
            .ok());
  auto too_long = validate_namespace(longest + "n");
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.error().message().find("worker_") != std::string::npos);
  CHECK_FALSE(validate_namespace("Payments").ok());
}
