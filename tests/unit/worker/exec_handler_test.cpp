#include "worker/exec_handler.hpp"

#include "channels/message_json.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>

#include <sys/wait.h>

using namespace std::chrono_literals;
using nlohmann::json;
using tasker::channels::StepMessage;
using tasker::core::ErrorCode;
using tasker::worker::ExecHandlerSpec;
using tasker::worker::parse_exec_handler;
using tasker::worker::run_exec_handler;
using tasker::worker::StepInput;
using tasker::worker::StepOutcome;
using Clock = std::chrono::steady_clock;

namespace {

// The first step of examples/templates/linear_workflow.yaml, second attempt.
StepMessage first_square_step() {
  StepMessage step;
  step.task_id = "0190f0c2-7a1b-7c3d-9e4f-5a6b7c8d9e0f";
  step.step_id = "0190f0c2-7a1b-7c3d-9e4f-000000000001";
  step.step_name = "linear_step_1";
  step.namespace_name = "linear_workflow";
  step.task_name = "mathematical_sequence";
  step.task_version = "1.0.0";
  step.attempt = 2;
  step.callable = "tasker.square";
  step.initialization = {{"input_key", "even_number"}};
  step.context = {{"even_number", 6}};
  step.timeout_seconds = 30;
  return step;
}

// The second step: no initialization, one parent.
StepMessage second_square_step() {
  auto step = first_square_step();
  step.step_id = "0190f0c2-7a1b-7c3d-9e4f-000000000002";
  step.step_name = "linear_step_2";
  step.attempt = 1;
  step.initialization = json::object();
  step.dependency_results = {{"linear_step_1", {{"value", 36}}}};
  return step;
}

ExecHandlerSpec spec(std::string_view item) {
  auto parsed = parse_exec_handler(item);
  REQUIRE_MESSAGE(parsed.ok(), parsed.error().to_string());
  return *parsed;
}

// A handler that is `sh -c SCRIPT`.
ExecHandlerSpec shell(const std::string& script) {
  return ExecHandlerSpec{"tasker.square", {"/bin/sh", "-c", script}};
}

StepOutcome run(const ExecHandlerSpec& handler,
                const StepMessage& step = first_square_step(),
                Clock::time_point deadline = Clock::now() + 20s,
                std::stop_token stop = {}) {
  return run_exec_handler(handler, StepInput{step, deadline, std::move(stop)});
}

// A handler that discards its stdin and prints `answer`.
StepOutcome answering(const std::string& answer) {
  return run(shell("cat > /dev/null; printf '%s' '" + answer + "'"));
}

void check_invalid_output(const StepOutcome& outcome,
                          const std::string& message) {
  CHECK_FALSE(outcome.success);
  CHECK(outcome.error_type == "handler_invalid_output");
  CHECK(outcome.retryable);
  CHECK(outcome.error_message == message);
}

std::string source_path(const std::string& relative) {
  return std::string{TASKER_SOURCE_DIR} + "/" + relative;
}

} // namespace

TEST_CASE("an exec handler item names a callable and a command") {
  auto parsed
      = spec(R"(shop.charge_card=python3 "handlers/charge card.py" -v)");
  CHECK(parsed.callable == "shop.charge_card");
  CHECK(
      parsed.argv
      == std::vector<std::string>{"python3", "handlers/charge card.py", "-v"});
  parsed = spec(" tasker.square = env MODE=fast ./square ");
  CHECK(parsed.callable == "tasker.square");
  CHECK(parsed.argv
        == std::vector<std::string>{"env", "MODE=fast", "./square"});
}

TEST_CASE("a malformed exec handler item is refused, naming it") {
  auto refusal = [](std::string_view item) {
    auto parsed = parse_exec_handler(item);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code() == ErrorCode::invalid_config);
    return parsed.error().message();
  };
  CHECK(refusal("python3 square.py")
        == "exec handler 'python3 square.py': expected CALLABLE=COMMAND");
  CHECK(refusal(" =python3 square.py")
        == "exec handler ' =python3 square.py': the callable before '=' is "
           "empty");
  CHECK(refusal("tasker square=python3 square.py")
        == "exec handler 'tasker square=python3 square.py': the callable "
           "'tasker square' contains whitespace");
  CHECK(refusal("tasker.square=  ")
        == "exec handler 'tasker.square=  ': empty command");
  CHECK(refusal("tasker.square=sh -c 'echo")
        == "exec handler 'tasker.square=sh -c 'echo': unterminated single "
           "quote in command 'sh -c 'echo'");
}

TEST_CASE("an exec handler's result is the step's result") {
  auto outcome = answering(R"(  {"result": {"value": 36}}  )");
  REQUIRE_MESSAGE(outcome.success, outcome.error_message);
  CHECK(outcome.result == json{{"value", 36}});

  outcome = run(shell(R"(cat > /dev/null; printf '\n{"result": null}\n\n')"));
  REQUIRE_MESSAGE(outcome.success, outcome.error_message);
  CHECK(outcome.result.is_null());
}

TEST_CASE("an exec handler reads the step message on stdin") {
  auto step = first_square_step();
  auto outcome = run(shell(R"(printf '{"result": '; cat; printf '}')"), step);
  REQUIRE_MESSAGE(outcome.success, outcome.error_message);
  CHECK(outcome.result == json::parse(tasker::channels::to_json_text(step)));
  CHECK(outcome.result["task_id"] == step.task_id);
  CHECK(outcome.result["step_name"] == "linear_step_1");
  CHECK(outcome.result["attempt"] == 2);
  CHECK(outcome.result["handler"]["callable"] == "tasker.square");
  CHECK(outcome.result["handler"]["initialization"]["input_key"]
        == "even_number");
  CHECK(outcome.result["context"]["even_number"] == 6);
  CHECK(outcome.result["timeout_seconds"] == 30);
}

TEST_CASE("an exec handler sees the step in its environment") {
  auto outcome = run(
      shell("cat > /dev/null; printf "
            R"('{"result": ["%s", "%s", "%s", "%s", "%s", "%s"]}' )"
            R"("$TASKER_TASK_ID" "$TASKER_STEP_ID" "$TASKER_STEP_NAME" )"
            R"("$TASKER_NAMESPACE" "$TASKER_ATTEMPT" "$TASKER_CALLABLE")"));
  REQUIRE_MESSAGE(outcome.success, outcome.error_message);
  auto step = first_square_step();
  CHECK(outcome.result
        == json{step.task_id, step.step_id, "linear_step_1", "linear_workflow",
                "2", "tasker.square"});
}

TEST_CASE("an exec handler's error object is the step's failure") {
  auto outcome = answering(
      R"({"error": {"message": "card declined", "retryable": false,)"
      R"( "backoff_ms": 1500, "type": "card_declined"}})");
  CHECK_FALSE(outcome.success);
  CHECK(outcome.error_message == "card declined");
  CHECK_FALSE(outcome.retryable);
  CHECK(outcome.backoff_hint == 1500ms);
  CHECK(outcome.error_type == "card_declined");

  outcome = answering(R"({"error": {"message": "later", "retryable": null}})");
  CHECK_FALSE(outcome.success);
  CHECK(outcome.error_message == "later");
  CHECK(outcome.retryable);
  CHECK(outcome.backoff_hint == 0ms);
  CHECK(outcome.error_type == "handler_error");
}

TEST_CASE("an exec handler that exits non-zero fails with its stderr") {
  auto outcome = run(shell("echo starting >&2; echo 'card declined' >&2; "
                           "exit 3"));
  CHECK_FALSE(outcome.success);
  CHECK(outcome.error_type == "handler_exit");
  CHECK(outcome.retryable);
  CHECK(outcome.error_message
        == "command '/bin/sh -c echo starting >&2; echo 'card declined' >&2; "
           "exit 3' exited with status 3; stderr: starting\ncard declined");

  outcome = run(shell("exit 4"));
  CHECK(outcome.error_message
        == "command '/bin/sh -c exit 4' exited with "
           "status 4");
  // Bytes that are not UTF-8 still make an encodable message.
  outcome = run(shell(R"(printf 'bad \377\376 bytes' >&2; exit 1)"));
  CHECK(outcome.error_message.ends_with(
      "; stderr: bad \xEF\xBF\xBD\xEF\xBF\xBD bytes"));
  CHECK_NOTHROW(json(outcome.error_message).dump());
}

TEST_CASE("an exec handler killed by a signal fails naming the signal") {
  auto outcome = run(shell("echo dying >&2; kill -KILL $$"));
  CHECK_FALSE(outcome.success);
  CHECK(outcome.error_type == "handler_exit");
  CHECK(outcome.retryable);
  CHECK(outcome.error_message
        == "command '/bin/sh -c echo dying >&2; kill -KILL $$' was killed by "
           "signal 9 (Killed); stderr: dying");
}

TEST_CASE("an exec handler's output that is not the envelope is invalid "
          "output") {
  check_invalid_output(answering(""),
                       "command '/bin/sh -c cat > /dev/null; printf '%s' ''' "
                       "wrote nothing to stdout, expected a JSON object with "
                       "\"result\" or \"error\"");
  auto outcome = run(shell("cat > /dev/null; echo 'Traceback: oops'; "
                           "echo warning >&2"));
  check_invalid_output(outcome, "command '/bin/sh -c cat > /dev/null; echo "
                                "'Traceback: oops'; echo warning >&2' wrote "
                                "output that is not JSON: Traceback: oops; "
                                "stderr: warning");

  auto message = [](const std::string& answer) {
    auto outcome = answering(answer);
    CHECK_FALSE(outcome.success);
    CHECK(outcome.error_type == "handler_invalid_output");
    CHECK(outcome.retryable);
    auto prefix = "command '/bin/sh -c cat > /dev/null; printf '%s' '" + answer
                  + "'' wrote ";
    REQUIRE(outcome.error_message.starts_with(prefix));
    return outcome.error_message.substr(prefix.size());
  };
  CHECK(message("[1, 2]")
        == R"(a JSON array instead of an object with "result" or "error": )"
           "[1, 2]");
  CHECK(message(R"({"value": 36})")
        == R"(an object with neither "result" nor "error": {"value": 36})");
  CHECK(message(R"({"result": 1, "error": {"message": "x"}})")
        == R"(both "result" and "error": {"result": 1, "error": )"
           R"({"message": "x"}})");
  CHECK(message(R"({"error": "declined"})")
        == R"(an "error" that is a string, not an object)");
  CHECK(message(R"({"error": {"retryable": false}})")
        == R"(an "error" without a string "message")");
  CHECK(message(R"({"error": {"message": 7}})")
        == R"(an "error" without a string "message")");
  CHECK(message(R"({"error": {"message": "x", "retryable": "no"}})")
        == R"(an "error" whose "retryable" is a string, not a boolean)");
  CHECK(message(R"({"error": {"message": "x", "backoff_ms": -5}})")
        == R"(an "error" whose "backoff_ms" is -5, not a non-negative )"
           "integer");
  CHECK(message(R"({"error": {"message": "x", "backoff_ms": 1.5}})")
        == R"(an "error" whose "backoff_ms" is 1.5, not a non-negative )"
           "integer");
  CHECK(message(R"({"error": {"message": "x", "type": 7}})")
        == R"(an "error" whose "type" is a number, not a string)");
}

TEST_CASE("an exec handler's bad output is quoted up to 200 bytes") {
  auto outcome = run(shell("cat > /dev/null; head -c 5000 /dev/zero | "
                           "tr '\\0' z"));
  CHECK_FALSE(outcome.success);
  CHECK(outcome.error_message.ends_with(
      "wrote output that is not JSON: " + std::string(200, 'z') + "..."));
}

TEST_CASE("an exec handler with a large stdin and a large stdout does not "
          "deadlock") {
  auto step = first_square_step();
  step.context["blob"] = std::string(1024 * 1024, 'b');
  // 1 MiB of result before reading 1 MiB of step message.
  auto outcome = run(shell("printf '{\"result\": \"';"
                           "head -c 1048576 /dev/zero | tr '\\0' r;"
                           "printf '\", \"echo\": '; cat; printf '}'"),
                     step);
  REQUIRE_MESSAGE(outcome.success, outcome.error_message);
  CHECK(outcome.result == std::string(1024 * 1024, 'r'));
}

TEST_CASE("an exec handler writing past the stdout limit is killed") {
  auto outcome = run(shell("head -c 17000000 /dev/zero"));
  check_invalid_output(outcome, "command '/bin/sh -c head -c 17000000 "
                                "/dev/zero' wrote more than 16777216 bytes "
                                "to stdout (the limit) and was killed");
}

TEST_CASE("an exec handler past its deadline is killed and times out") {
  auto start = Clock::now();
  auto outcome = run(shell("echo working >&2; sleep 30"), first_square_step(),
                     Clock::now() + 300ms);
  CHECK(Clock::now() - start < 5s);
  CHECK_FALSE(outcome.success);
  CHECK(outcome.error_type == "handler_timeout");
  CHECK(outcome.retryable);
  CHECK(outcome.error_message
        == "command '/bin/sh -c echo working >&2; sleep 30' did not finish "
           "within the step's timeout and was killed; stderr: working");
  CHECK(::waitpid(-1, nullptr, WNOHANG) <= 0);
}

TEST_CASE("an exec handler whose stop token is requested times out") {
  std::stop_source stop;
  stop.request_stop();
  auto start = Clock::now();
  auto outcome = run(shell("sleep 30"), first_square_step(), Clock::now() + 60s,
                     stop.get_token());
  CHECK(Clock::now() - start < 5s);
  CHECK_FALSE(outcome.success);
  CHECK(outcome.error_type == "handler_timeout");
  CHECK(outcome.retryable);
}

TEST_CASE("an exec handler whose program does not exist fails for good") {
  auto outcome = run(spec("tasker.square=tasker-no-such-handler --fast"));
  CHECK_FALSE(outcome.success);
  CHECK(outcome.error_type == "handler_start_failed");
  CHECK_FALSE(outcome.retryable);
  CHECK(outcome.error_message
        == "cannot start 'tasker-no-such-handler': No such file or directory");
}

TEST_CASE("the example exec handlers square the input") {
  // python3 must be installed: without it this fails with "cannot start".
  for (auto handler :
       {ExecHandlerSpec{
            "tasker.square",
            {"python3", source_path("examples/handlers/square.py")}},
        ExecHandlerSpec{"tasker.square",
                        {"sh", source_path("examples/handlers/square.sh")}}}) {
    INFO(handler.argv[0]);
    auto outcome = run(handler, first_square_step());
    REQUIRE_MESSAGE(outcome.success, outcome.error_message);
    CHECK(outcome.result == json{{"value", 36}});

    outcome = run(handler, second_square_step());
    REQUIRE_MESSAGE(outcome.success, outcome.error_message);
    CHECK(outcome.result == json{{"value", 1296}});

    auto step = first_square_step();
    step.context = {{"even_number", "six"}};
    outcome = run(handler, step);
    CHECK_FALSE(outcome.success);
    CHECK_FALSE(outcome.retryable);
    CHECK(outcome.error_type == "invalid_input");
    CHECK(outcome.error_message.find("linear_step_1") != std::string::npos);
  }
}
