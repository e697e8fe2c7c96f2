#!/usr/bin/env python3
"""A Tasker exec handler in Python 3 (standard library only): squares a number.

Configure it for the callable of examples/templates/linear_workflow.yaml:

    [worker]
    exec_handlers = ["tasker.square=python3 examples/handlers/square.py"]

The number is the context value named by `handler.initialization.input_key`,
or else the `value` of the step's single parent result. Protocol:
docs/handlers.md, "Handlers in any language: exec".
"""

import json
import os
import sys


def invalid_input(message):
    # Retrying cannot fix the input: the step fails for good.
    return {"error": {"message": message, "retryable": False,
                      "type": "invalid_input"}}


def square(step):
    name = step["step_name"]
    key = step["handler"]["initialization"].get("input_key")
    if key is not None:
        context = step["context"]
        if not isinstance(context, dict) or key not in context:
            return invalid_input(f"step {name}: the context has no {key!r}")
        number = context[key]
    else:
        parents = step["dependency_results"]
        if len(parents) != 1:
            return invalid_input(
                f"step {name}: expected one parent result, got {len(parents)}")
        parent = next(iter(parents.values()))
        number = parent.get("value") if isinstance(parent, dict) else None
    # bool is an int in Python, but true is no number.
    if not isinstance(number, int) or isinstance(number, bool):
        return invalid_input(
            f"step {name}: the input {json.dumps(number)} is not an integer")
    return {"result": {"value": number * number}}


def main():
    step = json.load(sys.stdin)
    # stderr is for logs; its tail is kept when the step fails.
    print(f"square.py: step {step['step_name']}, attempt "
          f"{os.environ['TASKER_ATTEMPT']}", file=sys.stderr)
    json.dump(square(step), sys.stdout)


if __name__ == "__main__":
    main()
