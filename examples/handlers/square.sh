#!/bin/sh
# A Tasker exec handler in POSIX sh: squares a number.
#
#   [worker]
#   exec_handlers = ["tasker.square=sh examples/handlers/square.sh"]
#
# The number is the context value named by handler.initialization.input_key,
# or else the "value" of the first parent result. The step message arrives
# as compact JSON on one line; the sed below reads only flat objects of it,
# enough for this example: a real handler should use a JSON parser (jq,
# python3, ...). Protocol: docs/handlers.md, "Handlers in any language: exec".
set -u

step=$(cat)
integer='\(-\{0,1\}[0-9][0-9]*\)[,}]'
key=$(printf '%s\n' "$step" \
  | sed -n 's/.*"initialization":{[^{}]*"input_key":"\([^"]*\)".*/\1/p')
if [ -n "$key" ]; then
  number=$(printf '%s\n' "$step" \
    | sed -n 's/.*"context":{[^{}]*"'"$key"'":'"$integer"'.*/\1/p')
else
  number=$(printf '%s\n' "$step" \
    | sed -n 's/.*"dependency_results":{"[^"]*":{[^{}]*"value":'"$integer"'.*/\1/p')
fi

# stderr is for logs; its tail is kept when the step fails.
echo "square.sh: step $TASKER_STEP_NAME, attempt $TASKER_ATTEMPT" >&2
if [ -z "$number" ]; then
  # Retrying cannot fix the input: the step fails for good.
  printf '{"error": {"message": "step %s: no integer input", "retryable": false, "type": "invalid_input"}}\n' \
    "$TASKER_STEP_NAME"
  exit 0
fi
printf '{"result": {"value": %s}}\n' "$((number * number))"
