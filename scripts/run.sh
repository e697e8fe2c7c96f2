#!/usr/bin/env bash
# The main job: install missing packages, build, then run the example
# workflows (examples/templates/) in one all-in-one process (orchestration
# and a worker) and print every task's progress and result.
#
#   bash scripts/run.sh              embedded default: in-memory provider and
#                                    task store, no server
#   bash scripts/run.sh --pgmq       on PostgreSQL: PGMQ queues and the task
#                                    store in a private PostgreSQL 15
#   bash scripts/run.sh --rabbitmq   RabbitMQ queues, the task store in
#                                    PostgreSQL (both private servers)
#
# The servers are started on loopback as ordinary processes in a temporary
# directory and stopped afterwards.
#   TASKER_TEMPLATE_PATH  templates to run (default: examples/templates)
#   SKIP_DEPS=1           do not check the Debian packages
# BUILD_DIR, BUILD_TYPE, CMAKE_ARGS and JOBS are passed to scripts/build.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export BUILD_DIR=${BUILD_DIR:-build}

provider=in_memory
case "${1:-}" in
  "") ;;
  --pgmq) provider=pgmq ;;
  --rabbitmq) provider=rabbitmq ;;
  *)
    echo "usage: bash scripts/run.sh [--pgmq | --rabbitmq]" >&2
    exit 2
    ;;
esac

if [[ ${SKIP_DEPS:-0} != 1 ]]; then
  bash scripts/install-deps.sh
fi
bash scripts/build.sh

ctl="$BUILD_DIR/apps/tasker-ctl"
templates=${TASKER_TEMPLATE_PATH:-examples/templates}
echo "==> $ctl template validate $templates"
"$ctl" template validate "$templates" > /dev/null
echo "    valid"

SERVERS_DIR=
cleanup() {
  if [[ -n $SERVERS_DIR ]]; then
    bash scripts/test-servers.sh stop "$SERVERS_DIR" > /dev/null 2>&1 || true
    rm -rf "$SERVERS_DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export TASKER_TEMPLATE_PATH=$templates
export TASKER_MESSAGING_BACKEND=$provider
if [[ $provider != in_memory ]]; then
  SERVERS_DIR=$(mktemp -d -t tasker-run-servers.XXXXXXXX)
  echo "==> starting private servers in $SERVERS_DIR"
  bash scripts/test-servers.sh start "$SERVERS_DIR" > /dev/null
  # shellcheck source=/dev/null
  source "$SERVERS_DIR/env.sh"
  export DATABASE_URL=$TASKER_TEST_DATABASE_URL
  export RABBITMQ_URL=$TASKER_TEST_RABBITMQ_URL
fi

server="$BUILD_DIR/apps/tasker-server"
echo "==> $server --all-in-one --run-examples   (provider: $provider)"
"$server" --all-in-one --run-examples
