#!/usr/bin/env bash
# expect_failure.sh REGEX COMMAND [ARGS...]
# Passes when COMMAND exits non-zero (but was not killed by a signal) and
# its output (stdout and stderr) matches the extended, case-insensitive
# REGEX. Prints the command's output either way.
set -uo pipefail

if (($# < 2)); then
  echo "usage: $0 REGEX COMMAND [ARGS...]" >&2
  exit 2
fi
pattern=$1
shift

output=$("$@" 2>&1)
rc=$?
printf '%s\n' "$output"

if ((rc == 0)); then
  echo "expect_failure: '$*' exited 0, expected a failure" >&2
  exit 1
fi
if ((rc > 128)); then
  echo "expect_failure: '$*' died with signal $((rc - 128)), expected a clean failure" >&2
  exit 1
fi
if ! grep -Eqi -- "$pattern" <<<"$output"; then
  echo "expect_failure: '$*' failed (exit $rc) but its output does not match /$pattern/" >&2
  exit 1
fi
echo "expect_failure: '$*' failed as expected (exit $rc, output matches /$pattern/)"
