#include "worker/exec_handler.hpp"

#include "channels/message_json.hpp"
#include "core/command_line.hpp"
#include "worker/process_runner.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

namespace tasker::worker {

namespace {

using nlohmann::json;

// How much of a bad stdout a failure message quotes.
constexpr std::size_t stdout_excerpt_bytes = 200;

std::string_view trimmed(std::string_view text) {
  constexpr std::string_view blanks = " \t\r\n";
  auto first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos)
    return {};
  return text.substr(first, text.find_last_not_of(blanks) - first + 1);
}

// A child may write anything, but a step result must encode as JSON: invalid
// UTF-8 (or a multi-byte character cut by a tail) becomes U+FFFD.
std::string valid_utf8(std::string_view text) {
  auto quoted = json(std::string{text})
                    .dump(-1, ' ', false, json::error_handler_t::replace);
  return json::parse(quoted).get<std::string>();
}

std::string stdout_excerpt(std::string_view text) {
  text = trimmed(text);
  if (text.size() <= stdout_excerpt_bytes)
    return valid_utf8(text);
  return valid_utf8(text.substr(0, stdout_excerpt_bytes)) + "...";
}

// "; stderr: ..." when the command wrote to stderr.
std::string stderr_note(const ProcessOutcome& run) {
  auto tail = trimmed(run.stderr_tail);
  return tail.empty() ? std::string{} : "; stderr: " + valid_utf8(tail);
}

std::string signal_name(int signal) {
  const char* description = ::sigdescr_np(signal);
  return description != nullptr ? description : "unknown signal";
}

// The answer of a command that exited with status 0: the stdout envelope.
StepOutcome read_answer(const std::string& command, const ProcessOutcome& run) {
  auto invalid = [&](const std::string& problem) {
    return StepOutcome::failed("command '" + command + "' " + problem
                                   + stderr_note(run),
                               true, {}, "handler_invalid_output");
  };
  auto text = trimmed(run.stdout_text);
  if (text.empty())
    return invalid("wrote nothing to stdout, expected a JSON object with "
                   "\"result\" or \"error\"");
  auto doc = json::parse(text, nullptr, false);
  if (doc.is_discarded())
    return invalid("wrote output that is not JSON: " + stdout_excerpt(text));
  if (!doc.is_object())
    return invalid(std::string{"wrote a JSON "} + doc.type_name()
                   + " instead of an object with \"result\" or \"error\": "
                   + stdout_excerpt(text));
  auto result = doc.find("result");
  auto error = doc.find("error");
  if (result != doc.end() && error != doc.end())
    return invalid("wrote both \"result\" and \"error\": "
                   + stdout_excerpt(text));
  if (result != doc.end())
    return StepOutcome::succeeded(*result);
  if (error == doc.end())
    return invalid("wrote an object with neither \"result\" nor \"error\": "
                   + stdout_excerpt(text));
  if (!error->is_object())
    return invalid(std::string{"wrote an \"error\" that is a "}
                   + error->type_name() + ", not an object");
  // Optional members may be absent or null.
  auto member = [&](const char* key) -> const json* {
    auto i = error->find(key);
    return i == error->end() || i->is_null() ? nullptr : &*i;
  };
  auto message = member("message");
  if (message == nullptr || !message->is_string())
    return invalid("wrote an \"error\" without a string \"message\"");
  auto retryable = member("retryable");
  if (retryable != nullptr && !retryable->is_boolean())
    return invalid(std::string{"wrote an \"error\" whose \"retryable\" is a "}
                   + retryable->type_name() + ", not a boolean");
  auto backoff = member("backoff_ms");
  // A parsed non-negative integer is always stored unsigned.
  if (backoff != nullptr && !backoff->is_number_unsigned())
    return invalid("wrote an \"error\" whose \"backoff_ms\" is "
                   + backoff->dump() + ", not a non-negative integer");
  auto type = member("type");
  if (type != nullptr && !type->is_string())
    return invalid(std::string{"wrote an \"error\" whose \"type\" is a "}
                   + type->type_name() + ", not a string");
  std::chrono::milliseconds backoff_hint{0};
  if (backoff != nullptr)
    backoff_hint = std::chrono::milliseconds{
        std::min<std::uint64_t>(backoff->get<std::uint64_t>(),
                                std::numeric_limits<std::int64_t>::max())};
  return StepOutcome::failed(
      message->get<std::string>(),
      retryable == nullptr || retryable->get<bool>(), backoff_hint,
      type == nullptr ? "handler_error" : type->get<std::string>());
}

} // namespace

core::Result<ExecHandlerSpec> parse_exec_handler(std::string_view item) {
  auto bad = [&](const std::string& problem) {
    return core::Error{core::ErrorCode::invalid_config,
                       "exec handler '" + std::string{item} + "': " + problem};
  };
  auto equals = item.find('=');
  if (equals == std::string_view::npos)
    return bad("expected CALLABLE=COMMAND");
  auto callable = trimmed(item.substr(0, equals));
  if (callable.empty())
    return bad("the callable before '=' is empty");
  if (callable.find_first_of(" \t\r\n") != std::string_view::npos)
    return bad("the callable '" + std::string{callable}
               + "' contains whitespace");
  auto argv = core::split_command_line(item.substr(equals + 1));
  if (!argv)
    return bad(argv.error().message());
  return ExecHandlerSpec{std::string{callable}, std::move(*argv)};
}

StepOutcome run_exec_handler(const ExecHandlerSpec& spec,
                             const StepInput& input) {
  using Ending = ProcessOutcome::Ending;
  const auto& step = input.step();
  ProcessRequest request;
  request.argv = spec.argv;
  request.stdin_text = channels::to_json_text(step);
  request.extra_env = {{"TASKER_TASK_ID", step.task_id},
                       {"TASKER_STEP_ID", step.step_id},
                       {"TASKER_STEP_NAME", step.step_name},
                       {"TASKER_NAMESPACE", step.namespace_name},
                       {"TASKER_ATTEMPT", std::to_string(step.attempt)},
                       {"TASKER_CALLABLE", step.callable}};
  request.deadline = input.deadline();
  request.stop = input.stop_token();
  auto run = run_process(request);

  std::string command;
  for (auto& word : spec.argv)
    command += (command.empty() ? "" : " ") + word;
  auto failure = [&](const std::string& what, const char* type) {
    return StepOutcome::failed(
        "command '" + command + "' " + what + stderr_note(run), true, {}, type);
  };
  switch (run.ending) {
    case Ending::exited:
      if (run.exit_code == 0)
        return read_answer(command, run);
      return failure("exited with status " + std::to_string(run.exit_code),
                     "handler_exit");
    case Ending::signaled:
      return failure("was killed by signal " + std::to_string(run.signal) + " ("
                         + signal_name(run.signal) + ")",
                     "handler_exit");
    case Ending::timed_out:
    case Ending::stopped:
      return failure("did not finish within the step's timeout and was killed",
                     "handler_timeout");
    case Ending::output_too_large:
      return failure("wrote more than "
                         + std::to_string(request.max_stdout_bytes)
                         + " bytes to stdout (the limit) and was killed",
                     "handler_invalid_output");
    case Ending::failed_to_start: break;
  }
  // A missing or non-executable program does not appear by retrying.
  return StepOutcome::failed(run.start_error, false, {},
                             "handler_start_failed");
}

} // namespace tasker::worker
