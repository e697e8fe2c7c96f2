#!/usr/bin/env bash
# expect_success.sh REGEX COMMAND [ARGS...]
# Passes when COMMAND exits 0 and its output (stdout and stderr) matches
# the extended REGEX. Prints the command's output either way.
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

if ((rc != 0)); then
  echo "expect_success: '$*' exited $rc" >&2
  exit 1
fi
if ! grep -Eq -- "$pattern" <<< "$output"; then
  echo "expect_success: output does not match '$pattern'" >&2
  exit 1
fi
