#!/usr/bin/env bash
# The whole suite: install missing packages, build, start private PostgreSQL
# and RabbitMQ servers, run every test tier with ctest, stop the servers.
# The servers are stopped and their directory removed however this ends
# (tests failing, an error, Ctrl-C).
#
#   CI=true       a missing test server fails its tests instead of skipping
#   BUILD_DIR     build directory (default: build)
#   SKIP_DEPS=1   do not check the Debian packages
#   TEST_TIMEOUT  default per-test timeout in seconds (default: 600)
#   CTEST_ARGS    extra ctest arguments, e.g. "-L unit" or "-R pg"
# BUILD_TYPE, CMAKE_ARGS and JOBS are passed to scripts/build.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export BUILD_DIR=${BUILD_DIR:-build}
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
read -r -a ctest_args <<<"${CTEST_ARGS:-}"

now_ms() { date +%s%3N; }
secs() { # milliseconds as seconds with one decimal
  printf '%d.%ds' $(($1 / 1000)) $(($1 % 1000 / 100))
}

T_ALL=$(now_ms)
T_PHASE=0
PHASE=
TIMES=()
phase_begin() {
  PHASE=$1
  T_PHASE=$(now_ms)
  echo "==> $PHASE"
}
phase_end() { # [quiet]
  local d=$(($(now_ms) - T_PHASE))
  TIMES+=("$PHASE $(secs "$d")")
  [[ ${1:-} == quiet ]] || echo "==> $PHASE done in $(secs "$d")"
  PHASE=
}

SERVERS_DIR=
# shellcheck disable=SC2317 # invoked by the traps
cleanup() {
  local rc=$? out
  trap - EXIT INT TERM
  if [[ -n $SERVERS_DIR ]]; then
    # Quiet unless something went wrong, so ctest's summary stays last.
    if ! out=$(bash scripts/test-servers.sh stop "$SERVERS_DIR" 2>&1) \
      || [[ $out == *test-servers:* ]]; then
      echo "$out" >&2
    fi
    rm -rf "$SERVERS_DIR"
  fi
  [[ -z $PHASE ]] || TIMES+=("$PHASE (interrupted)")
  local IFS=,
  echo "test.sh: exit $rc after $(secs $(($(now_ms) - T_ALL))) (${TIMES[*]})"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "test.sh: CI=${CI:-<unset>} BUILD_DIR=$BUILD_DIR"

if [[ ${SKIP_DEPS:-0} != 1 ]]; then
  phase_begin deps
  bash scripts/install-deps.sh
  phase_end
fi

phase_begin build
bash scripts/build.sh
phase_end

phase_begin servers
SERVERS_DIR=$(mktemp -d -t tasker-test-servers.XXXXXXXX)
bash scripts/test-servers.sh start "$SERVERS_DIR"
# shellcheck disable=SC1091
source "$SERVERS_DIR/env.sh"
export TASKER_TEST_DATABASE_URL TASKER_TEST_RABBITMQ_URL
phase_end

phase_begin tests
rc=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 --no-tests=error \
  --no-label-summary --timeout "$TEST_TIMEOUT" "${ctest_args[@]}" || rc=$?
# Nothing but one timing line may follow ctest's summary.
phase_end quiet
exit "$rc"
