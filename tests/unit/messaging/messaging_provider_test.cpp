#include "messaging/message_client.hpp"

#include <doctest/doctest.h>

using namespace tasker::messaging;
using namespace std::chrono_literals;
using tasker::core::ErrorCode;

TEST_CASE("the embedded configuration builds the in-memory provider") {
  tasker::config::NodeConfig config;
  config.in_memory.max_deliveries = 7;
  auto provider = MessagingProvider::from_config(config);
  REQUIRE(provider.ok());
  CHECK(provider->provider_name() == "in_memory");
  CHECK(provider->capabilities().max_message_size == 1048576);
}

TEST_CASE("an unreachable RabbitMQ is reported, not hung on") {
  tasker::config::NodeConfig config;
  config.messaging_backend = tasker::config::MessagingBackend::rabbitmq;
  // Port 1 on loopback refuses at once; no retries.
  config.rabbitmq.url = "amqp://guest:guest@127.0.0.1:1/%2f";
  config.rabbitmq.connect_retries = 0;
  auto provider = MessagingProvider::from_config(config);
  REQUIRE_FALSE(provider.ok());
  CHECK(provider.error().code() == ErrorCode::backend_unavailable);
  CHECK(provider.error().message().find("127.0.0.1") != std::string::npos);
}

TEST_CASE("an unreachable PostgreSQL is reported, not hung on") {
  tasker::config::NodeConfig config;
  config.messaging_backend = tasker::config::MessagingBackend::pgmq;
  // Port 1 on loopback refuses at once; no retries.
  config.database.url = "postgresql://tasker@127.0.0.1:1/tasker";
  config.database.connect_retries = 0;
  auto provider = MessagingProvider::from_config(config);
  REQUIRE_FALSE(provider.ok());
  CHECK(provider.error().code() == ErrorCode::backend_unavailable);
  CHECK(provider.error().message().find("127.0.0.1") != std::string::npos);
}

TEST_CASE("the message client sends by role") {
  MessageClient client{MessagingProvider{InMemoryProvider{}}};
  auto& p = client.provider();
  REQUIRE(p.ensure_queues(MessageClient::orchestration_queues()).ok());
  REQUIRE(p.create_queue("worker_billing_queue").ok());
  REQUIRE(client.send_step("billing", {"{\"step\":1}", {}, {}}).ok());
  REQUIRE(client.send_step_result({"{\"result\":1}", {}, {}}).ok());
  REQUIRE(client.send_task_request({"{\"task\":1}", {}, {}}).ok());
  REQUIRE(client.send_finalization({"{\"final\":1}", {}, {}}).ok());
  for (auto q :
       {"worker_billing_queue", "orchestration_step_results",
        "orchestration_task_requests", "orchestration_task_finalizations"}) {
    auto got = p.receive(q, 10, 30s);
    REQUIRE(got.ok());
    CHECK(got->size() == 1);
  }
  auto missing = client.send_step("nowhere", {"{}", {}, {}});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code() == ErrorCode::queue_not_found);
}

TEST_CASE("replies are sent, then their requests acked, where the provider "
          "has no transactions") {
  MessagingProvider provider{InMemoryProvider{}};
  REQUIRE(provider.ensure_queues({"requests", "replies"}).ok());
  std::vector<int64_t> requests;
  for (int i = 0; i < 3; ++i)
    requests.push_back(*provider.send("requests", {"{}", {}, {}}));
  REQUIRE(provider.receive("requests", 3, std::chrono::seconds{30})->size()
          == 3);
  std::vector<OutgoingMessage> replies{{R"({"n":1})", {}, {}},
                                       {R"({"n":2})", {}, {}}};
  auto sent = provider.send_and_ack_batch("replies", replies, "requests",
                                          {requests[0], requests[1]});
  REQUIRE(sent.ok());
  CHECK(sent->sent_ids.size() == 2);
  CHECK(sent->acked.ok());
  CHECK(provider.metrics("requests")->depth == 1);
  CHECK(provider.metrics("replies")->depth == 2);
  // A send that fails acks nothing.
  CHECK_FALSE(
      provider.send_and_ack_batch("missing", replies, "requests", {requests[2]})
          .ok());
  CHECK(provider.metrics("requests")->depth == 1);
}

TEST_CASE("a reply is sent and its request acked one after the other where "
          "the provider has no transactions") {
  MessagingProvider provider{InMemoryProvider{}};
  REQUIRE(provider.ensure_queues({"requests", "replies"}).ok());
  auto request = provider.send("requests", {"{}", {}, {}});
  REQUIRE(request.ok());
  REQUIRE(provider.receive("requests", 1, std::chrono::seconds{30})->size()
          == 1);
  auto reply = provider.send_and_ack("replies", {R"({"n":1})", {}, {}},
                                     "requests", *request);
  REQUIRE(reply.ok());
  CHECK(reply->acked.ok());
  CHECK(provider.metrics("requests")->depth == 0);
  CHECK(provider.metrics("replies")->depth == 1);
  // Acking a request that is gone fails the ack, not the send.
  auto again = provider.send_and_ack("replies", {R"({"n":2})", {}, {}},
                                     "requests", *request);
  REQUIRE(again.ok());
  CHECK_FALSE(again->acked.ok());
  CHECK(provider.metrics("replies")->depth == 2);
  // A send that fails acks nothing.
  auto other = provider.send("requests", {"{}", {}, {}});
  REQUIRE(other.ok());
  CHECK_FALSE(
      provider.send_and_ack("missing", {"{}", {}, {}}, "requests", *other)
          .ok());
  CHECK(provider.metrics("requests")->depth == 1);
}
