#!/usr/bin/env bash
# A process started through tests/support/child_process.hpp (the nodes of
# the tests and benchmarks) ends when the process that started it is
# killed outright: SIGKILL to the probe, then its `sleep` must be gone
# within 5 s. Usage: children_end_with_their_parent.sh PROBE
set -u
probe=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$probe" >"$out" &
parent=$!
for _ in $(seq 100); do
  [ -s "$out" ] && break
  sleep 0.05
done
child=$(head -1 "$out")
if [ -z "$child" ]; then
  echo "the probe printed no child pid"
  kill -9 "$parent" 2>/dev/null
  exit 1
fi
kill -9 "$parent"
wait "$parent" 2>/dev/null
for _ in $(seq 100); do
  state=$(awk '{print $3}' "/proc/$child/stat" 2>/dev/null)
  if [ -z "$state" ] || [ "$state" = Z ]; then
    echo "child $child ended with its parent"
    exit 0
  fi
  sleep 0.05
done
echo "child $child still runs 5 s after its parent was killed"
kill -9 "$child" 2>/dev/null
exit 1
