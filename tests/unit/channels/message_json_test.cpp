#include "channels/message_json.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace tasker::channels;

TEST_CASE("a step result survives its JSON form") {
  StepResult success{"t1", "s1", 2,  true, R"({"value":36})", "", "", false,
                     0,    "w1", 10, 20};
  auto decoded = step_result_from_json(to_json_text(success));
  REQUIRE_MESSAGE(decoded.ok(), decoded.error().to_string());
  CHECK(decoded->task_id == "t1");
  CHECK(decoded->attempt == 2);
  CHECK(decoded->success);
  CHECK(nlohmann::json::parse(decoded->result_json)
        == nlohmann::json{{"value", 36}});
  CHECK(decoded->completed_at_us == 20);

  StepResult failure{"t1", "s1", 1,    false, "", "declined", "handler_error",
                     true, 1500, "w2", 0,     0};
  decoded = step_result_from_json(to_json_text(failure));
  REQUIRE(decoded.ok());
  CHECK_FALSE(decoded->success);
  CHECK(decoded->error_message == "declined");
  CHECK(decoded->error_type == "handler_error");
  CHECK(decoded->retryable);
  CHECK(decoded->backoff_hint_ms == 1500);
}

TEST_CASE("a malformed step result is refused, naming the field") {
  auto error = [](std::string_view text) {
    auto decoded = step_result_from_json(text);
    REQUIRE_FALSE(decoded.ok());
    return decoded.error().message();
  };
  CHECK(error("not json") == "step result: not valid JSON");
  CHECK(error("[1]") == "step result: expected a JSON object");
  CHECK(error(R"({"step_id":"s","attempt":1,"success":true})")
        == "step result: missing field 'task_id'");
  CHECK(error(R"({"task_id":"t","step_id":"s","attempt":"1","success":true})")
        == "step result: field 'attempt' has the wrong type (string)");
}

TEST_CASE("task requests and finalization requests round-trip") {
  TaskRequest request{"payments", "refund", "1.0.0", R"({"amount":42})",
                      "key-1",    3,        "alice", "billing",
                      "asked",    "task-9"};
  auto decoded = task_request_from_json(to_json_text(request));
  REQUIRE(decoded.ok());
  // The task id is the processor's to draw: messages never carry it.
  CHECK(decoded->task_id.empty());
  decoded->task_id = request.task_id;
  CHECK(*decoded == request);
  CHECK(task_request_from_json(R"({"namespace":"a","name":"b"})")
            .error()
            .message()
        == "task request: missing field 'context'");
  CHECK(*finalize_request_from_json(finalize_request_to_json("t9")) == "t9");
  CHECK_FALSE(finalize_request_from_json("{}").ok());
}
