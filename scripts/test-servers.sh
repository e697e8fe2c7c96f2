#!/usr/bin/env bash
# Private PostgreSQL 15 and RabbitMQ servers for the integration and e2e tests.
#
#   scripts/test-servers.sh start DIR   start them, write DIR/env.sh
#   scripts/test-servers.sh stop DIR    stop whatever start left in DIR
#
# SERVERS=pg, SERVERS=rabbitmq or SERVERS="pg rabbitmq" (default) picks which.
# Both listen on 127.0.0.1 only, on free ports chosen at random, keep all
# their files in DIR and never touch system services, the default ports or a
# system epmd. As root the servers run as the system user tasker-test.
#
# DIR/env.sh exports TASKER_TEST_DATABASE_URL and TASKER_TEST_RABBITMQ_URL,
# plus the TASKER_TEST_SRV_* state that stop reads.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
RMQ_BIN=${RMQ_BIN:-/usr/lib/rabbitmq/bin}
TEST_USER=tasker-test
PG_DB=tasker_test
PG_ROLE=tasker
START_TIMEOUT=${TASKER_TEST_SERVER_TIMEOUT:-90}
SAFE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf 'test-servers: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

usage() {
  echo "usage: $0 start|stop DIR   (SERVERS=pg|rabbitmq|\"pg rabbitmq\")" >&2
  exit 2
}

now_ms() { date +%s%3N; }
since() { # seconds elapsed since a now_ms timestamp, one decimal
  local d=$(($(now_ms) - $1))
  printf '%d.%ds' $((d / 1000)) $((d % 1000 / 100))
}

rand_u32() { od -An -N4 -tu4 /dev/urandom | tr -d ' \n'; }
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# A port is in use if something accepts on it or ss lists it as bound.
port_in_use() {
  local port=$1
  if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
    return 0
  fi
  if command -v ss >/dev/null 2>&1 \
    && ss -Htan "sport = :$port" 2>/dev/null | grep -q .; then
    return 0
  fi
  return 1
}

# Random free port in 20000-32767: below Linux's ephemeral range (32768+), so
# outgoing connections never hold it. Sets the variable named $1; a port
# handed out once is not handed out again by this script.
TAKEN=" "
free_port() { # VAR
  local _fp_port _fp_i
  for ((_fp_i = 0; _fp_i < 200; _fp_i++)); do
    _fp_port=$((20000 + $(rand_u32) % 12768))
    [[ $TAKEN == *" $_fp_port "* ]] && continue
    if ! port_in_use "$_fp_port"; then
      TAKEN+="$_fp_port "
      printf -v "$1" '%s' "$_fp_port"
      return 0
    fi
  done
  die "no free TCP port found on 127.0.0.1"
}

wait_for_port() { # port seconds pid-to-watch
  local port=$1 deadline=$(($(date +%s) + $2)) pid=${3:-}
  while ((($(date +%s)) < deadline)); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
      return 0
    fi
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.2
  done
  return 1
}

# -- who runs the servers -------------------------------------------------------

AS_USER=()
RUN_USER=$(id -un)
setup_user() {
  if ((EUID == 0)); then
    RUN_USER=$TEST_USER
    if ! id -u "$TEST_USER" >/dev/null 2>&1; then
      log "creating system user $TEST_USER"
      useradd --system --no-create-home --shell /usr/sbin/nologin \
        "$TEST_USER"
    fi
    AS_USER=(runuser -u "$TEST_USER" --)
  fi
}

# Gives a file or directory to the server user (a no-op when not root).
give() {
  if ((EUID == 0)); then
    chown -R "$RUN_USER:" "$@"
  fi
}

# Live processes of the server user, outside this script's process group,
# whose command line names the pattern (DIR or the node name). Zombies are
# left out: they are already dead, and only their parent can reap them (a
# container whose PID 1 does not reap keeps them around).
live_pids_matching() {
  local pattern=$1 mypg
  mypg=$(ps -o pgid= -p $$ | tr -d ' ')
  ps -ww -eo pid=,pgid=,user:32=,stat=,args= \
    | awk -v pat="$pattern" -v mypg="$mypg" -v user="$RUN_USER" \
      '$2 != mypg && $3 == user && $4 !~ /^Z/ && index($0, pat) > 0 {print $1}'
}

group_alive() { # pgid
  [[ -n ${1:-} ]] || return 1
  ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ {f=1} END {exit !f}'
}

# The live members of a process group and all their descendants: the Erlang
# VM's helpers (erl_child_setup, inet_gethost, the disk monitor's sh) are
# session leaders of their own, outside the group.
group_tree() { # pgid
  [[ -n ${1:-} ]] || return 0
  ps -eo pid=,ppid=,pgid=,stat= | awk -v g="$1" '
    $4 !~ /^Z/ { parent[$1] = $2; if ($3 == g) keep[$1] = 1 }
    END {
      do {
        grew = 0
        for (p in parent)
          if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 }
      } while (grew)
      for (p in keep) print p
    }'
}

kill_pids() { # pids...: SIGKILL to those still alive and not zombies
  local pid stat
  for pid in "$@"; do
    stat=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    [[ -n $stat && $stat != Z* ]] || continue
    kill -KILL "$pid" 2>/dev/null || true
  done
}

kill_group() { # pgid
  local pgid=${1:-} i
  [[ -n $pgid ]] || return 0
  group_alive "$pgid" || return 0
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    group_alive "$pgid" || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  sleep 0.2
}

# -- state file -------------------------------------------------------------------

ENV_FILE=
state() { # NAME VALUE: appended at once, so stop finds what start began
  printf 'export %s=%q\n' "$1" "$2" >>"$ENV_FILE"
}

# -- PostgreSQL --------------------------------------------------------------------

pg_ctl_() { "${AS_USER[@]}" env -i PATH="$SAFE_PATH" LC_ALL=C "$PG_BIN/pg_ctl" "$@"; }

start_pg() {
  local t0 pgdir=$DIR/pg data=$DIR/pg/data port attempt
  t0=$(now_ms)
  [[ -x $PG_BIN/initdb ]] || die "$PG_BIN/initdb not found (install postgresql-15)"
  mkdir -p "$pgdir"
  chmod 700 "$pgdir"
  give "$pgdir"
  if ((EUID == 0)) && ! "${AS_USER[@]}" test -w "$pgdir"; then
    die "$RUN_USER cannot write $pgdir: pick a DIR whose parents it can enter (e.g. under /tmp)"
  fi
  state TASKER_TEST_SRV_PG_DATA "$data"

  "${AS_USER[@]}" env -i PATH="$SAFE_PATH" LC_ALL=C "$PG_BIN/initdb" \
    -D "$data" -U "$PG_ROLE" --auth=trust --encoding=UTF8 --locale=C \
    --no-sync --no-instructions >"$pgdir/initdb.log" 2>&1 \
    || {
      tail -n 30 "$pgdir/initdb.log" >&2
      die "initdb failed"
    }
  cat >"$data/pg_hba.conf" <<EOF
local all all trust
host  all all 127.0.0.1/32 trust
EOF
  give "$data/pg_hba.conf"

  for attempt in 1 2 3; do
    free_port port
    cat >>"$data/postgresql.conf" <<EOF

# tasker test server (attempt $attempt)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$pgdir'
# e2e_throughput counts the statements each step costs.
shared_preload_libraries = 'pg_stat_statements'
EOF
    if pg_ctl_ -D "$data" -l "$pgdir/postgres.log" -w -t "$START_TIMEOUT" \
      start >"$pgdir/pg_ctl.log" 2>&1; then
      break
    fi
    if grep -q "could not bind\|already in use" "$pgdir/postgres.log" \
      && ((attempt < 3)); then
      log "port $port was taken, trying another"
      continue
    fi
    tail -n 30 "$pgdir/pg_ctl.log" "$pgdir/postgres.log" >&2 || true
    die "PostgreSQL did not start"
  done
  state TASKER_TEST_SRV_PG_PORT "$port"

  "${AS_USER[@]}" env -i PATH="$SAFE_PATH" "$PG_BIN/createdb" -h 127.0.0.1 \
    -p "$port" -U "$PG_ROLE" "$PG_DB" \
    || die "createdb $PG_DB failed"

  local url="postgresql://$PG_ROLE@127.0.0.1:$port/$PG_DB"
  state TASKER_TEST_DATABASE_URL "$url"
  echo "postgresql 15 ready: $url ($(since "$t0"))"
}

stop_pg() {
  local data=${TASKER_TEST_SRV_PG_DATA:-} pid t0
  [[ -n $data && -d $data ]] || return 0
  t0=$(now_ms)
  if [[ -f $data/postmaster.pid ]]; then
    pg_ctl_ -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
  if [[ -f $data/postmaster.pid ]]; then
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      log "PostgreSQL did not stop in time: SIGQUIT to $pid"
      kill -QUIT "$pid" 2>/dev/null || true
      sleep 1
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  echo "postgresql $data stopped ($(since "$t0"))"
}

# -- RabbitMQ ---------------------------------------------------------------------

RMQ_ENV=()
rmq_env() { # needs TASKER_TEST_SRV_RMQ_* state
  local r=$TASKER_TEST_SRV_RMQ_DIR
  local local_only="-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false"
  RMQ_ENV=(
    env -i
    PATH="$SAFE_PATH"
    LC_ALL=C.UTF-8
    LANG=C.UTF-8
    HOME="$r/home"
    ERL_EPMD_PORT="$TASKER_TEST_SRV_RMQ_EPMD_PORT"
    RABBITMQ_NODENAME="$TASKER_TEST_SRV_RMQ_NODE"
    RABBITMQ_DIST_PORT="$TASKER_TEST_SRV_RMQ_DIST_PORT"
    RABBITMQ_CONF_ENV_FILE="$r/rabbitmq-env.conf"
    RABBITMQ_CONFIG_FILE="$r/rabbitmq.conf"
    RABBITMQ_ADVANCED_CONFIG_FILE="$r/advanced.config"
    RABBITMQ_ENABLED_PLUGINS_FILE="$r/enabled_plugins"
    RABBITMQ_MNESIA_BASE="$r/mnesia"
    RABBITMQ_LOG_BASE="$r/log"
    RABBITMQ_PID_FILE="$r/rabbitmq.pid"
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$local_only"
    RABBITMQ_CTL_ERL_ARGS="$local_only"
  )
}

rabbitmqctl_() { # args...: bounded by a timeout
  rmq_env
  timeout 60 "${AS_USER[@]}" "${RMQ_ENV[@]}" "$RMQ_BIN/rabbitmqctl" \
    -n "$TASKER_TEST_SRV_RMQ_NODE" "$@"
}

start_rabbitmq() {
  local t0 r=$DIR/rabbitmq amqp_port
  t0=$(now_ms)
  [[ -x $RMQ_BIN/rabbitmq-server ]] \
    || die "$RMQ_BIN/rabbitmq-server not found (install rabbitmq-server)"
  command -v epmd >/dev/null || die "epmd not found (install erlang-base)"
  mkdir -p "$r/home" "$r/mnesia" "$r/log"
  chmod 700 "$r"
  free_port amqp_port
  export TASKER_TEST_SRV_RMQ_DIR=$r
  export TASKER_TEST_SRV_RMQ_NODE
  TASKER_TEST_SRV_RMQ_NODE="tasker_test_$(rand_hex 4)@localhost"
  free_port TASKER_TEST_SRV_RMQ_EPMD_PORT
  free_port TASKER_TEST_SRV_RMQ_DIST_PORT
  export TASKER_TEST_SRV_RMQ_EPMD_PORT TASKER_TEST_SRV_RMQ_DIST_PORT
  for v in DIR NODE EPMD_PORT DIST_PORT; do
    local name=TASKER_TEST_SRV_RMQ_$v
    state "$name" "${!name}"
  done

  # Our own cookie, written before anything starts, so server and CLI agree.
  rand_hex 20 | tr a-f A-F >"$r/home/.erlang.cookie"
  chmod 400 "$r/home/.erlang.cookie"
  : >"$r/rabbitmq-env.conf"
  echo '[].' >"$r/enabled_plugins"
  cat >"$r/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$amqp_port
loopback_users = none
log.console = false
log.file.level = info
EOF
  give "$r"
  if ((EUID == 0)) && ! "${AS_USER[@]}" test -w "$r/home"; then
    die "$RUN_USER cannot write $r: pick a DIR whose parents it can enter (e.g. under /tmp)"
  fi

  # Our own epmd on its own port, in its own process group: the node and the
  # CLI use it through ERL_EPMD_PORT and never see a system epmd.
  setsid "${AS_USER[@]}" env -i PATH="$SAFE_PATH" epmd \
    -port "$TASKER_TEST_SRV_RMQ_EPMD_PORT" -address 127.0.0.1 \
    >"$r/epmd.log" 2>&1 </dev/null &
  state TASKER_TEST_SRV_RMQ_EPMD_PGID $!
  wait_for_port "$TASKER_TEST_SRV_RMQ_EPMD_PORT" 10 $! \
    || {
      cat "$r/epmd.log" >&2
      die "epmd did not start on port $TASKER_TEST_SRV_RMQ_EPMD_PORT"
    }

  rmq_env
  setsid "${AS_USER[@]}" "${RMQ_ENV[@]}" "$RMQ_BIN/rabbitmq-server" \
    >"$r/server.log" 2>&1 </dev/null &
  local pgid=$!
  state TASKER_TEST_SRV_RMQ_PGID "$pgid"

  # RabbitMQ opens its AMQP listener at the end of its boot steps.
  if ! wait_for_port "$amqp_port" "$START_TIMEOUT" "$pgid"; then
    log "RabbitMQ did not accept connections within ${START_TIMEOUT}s; logs:"
    tail -n 40 "$r/server.log" >&2 || true
    tail -n 40 "$r"/log/*.log >&2 2>/dev/null || true
    die "RabbitMQ did not start"
  fi

  local url="amqp://guest:guest@127.0.0.1:$amqp_port/%2f"
  state TASKER_TEST_RABBITMQ_URL "$url"
  echo "rabbitmq ready: $url node $TASKER_TEST_SRV_RMQ_NODE ($(since "$t0"))"
}

stop_rabbitmq() {
  local node=${TASKER_TEST_SRV_RMQ_NODE:-} pgid=${TASKER_TEST_SRV_RMQ_PGID:-}
  local epmd_pgid=${TASKER_TEST_SRV_RMQ_EPMD_PGID:-} i
  [[ -n $node ]] || return 0
  local tree t0
  t0=$(now_ms)
  tree=$(group_tree "$pgid")
  if [[ -n $tree ]]; then
    rabbitmqctl_ stop >/dev/null 2>&1 || true
    for ((i = 0; i < 100; i++)); do
      group_alive "$pgid" || break
      sleep 0.1
    done
    kill_group "$pgid"
    # shellcheck disable=SC2086
    kill_pids $tree
  fi
  # shellcheck disable=SC2046
  kill_pids $(live_pids_matching "$TASKER_TEST_SRV_RMQ_DIR")
  if [[ -n ${TASKER_TEST_SRV_RMQ_EPMD_PORT:-} ]] && group_alive "$epmd_pgid"; then
    timeout 10 "${AS_USER[@]}" env -i PATH="$SAFE_PATH" epmd \
      -port "$TASKER_TEST_SRV_RMQ_EPMD_PORT" -kill >/dev/null 2>&1 || true
    kill_group "$epmd_pgid"
  fi
  echo "rabbitmq $node stopped ($(since "$t0"))"
}

# -- commands -------------------------------------------------------------------

cmd_start() {
  local servers=${SERVERS:-pg rabbitmq} t0
  t0=$(now_ms)
  for s in $servers; do
    case $s in
      pg | postgres | postgresql | rabbitmq | rmq) ;;
      *) die "unknown server '$s' in SERVERS (use pg and/or rabbitmq)" ;;
    esac
  done
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd -P)
  ENV_FILE=$DIR/env.sh
  if [[ -s $ENV_FILE ]]; then
    die "$ENV_FILE exists: servers may still run there; run '$0 stop $DIR' first"
  fi
  if [[ -e $DIR/pg || -e $DIR/rabbitmq ]]; then
    # Left by an earlier start that was stopped since: start afresh.
    [[ -f $DIR/env.sh.stopped ]] \
      || die "$DIR/pg or $DIR/rabbitmq exists: use an empty DIR"
    rm -rf "$DIR/pg" "$DIR/rabbitmq" "$DIR/env.sh.stopped"
  fi
  setup_user
  # The server user must be able to enter DIR (mktemp -d makes it 0700).
  if ((EUID == 0)); then
    chmod o+x "$DIR"
  fi
  : >"$ENV_FILE"
  state TASKER_TEST_SRV_DIR "$DIR"
  # Whatever fails below, leave nothing running.
  trap 'rc=$?; if ((rc != 0)); then log "start failed, stopping what started"; cmd_stop >/dev/null 2>&1 || true; fi' EXIT
  trap 'exit 130' INT TERM
  for s in $servers; do
    case $s in
      pg | postgres | postgresql) start_pg ;;
      rabbitmq | rmq) start_rabbitmq ;;
    esac
  done
  echo "servers ready in $(since "$t0"); source $ENV_FILE"
}

cmd_stop() {
  DIR=$(cd "$DIR" 2>/dev/null && pwd -P) || return 0
  ENV_FILE=$DIR/env.sh
  if [[ ! -f $ENV_FILE ]]; then
    echo "nothing to stop in $DIR"
    return 0
  fi
  setup_user
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  stop_rabbitmq
  stop_pg
  # Nothing of ours may survive: anything still naming DIR goes.
  local left
  left=$(live_pids_matching "$DIR")
  if [[ -n $left ]]; then
    log "killing leftover processes: ${left//$'\n'/ }"
    # shellcheck disable=SC2086
    kill_pids $left
  fi
  # A second stop finds nothing to do.
  mv -f "$ENV_FILE" "$ENV_FILE.stopped" 2>/dev/null || true
  return 0
}

[[ $# -eq 2 ]] || usage
DIR=$2
case $1 in
  start) cmd_start ;;
  stop) cmd_stop ;;
  *) usage ;;
esac
