#!/usr/bin/env bash
# Starts RabbitMQ, Redis and PostgreSQL on loopback for tests and benchmarks, installing the
# Debian packages first when they are missing (and `prometheus` for promtool, which checks
# the alert rules in k8s/). Prints the export lines for their URLs.
# Redis runs with AOF (appendonly yes), as in production, so a restart keeps its data.
#   scripts/services.sh start   -> starts what is not running, writes .services/env
#   scripts/services.sh stop    -> stops only the processes this script started (by PID)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
state="${SERVICES_DIR:-$here/.services}"
rabbit_port="${RABBIT_PORT:-5682}"
redis_port="${REDIS_PORT:-6389}"
pg_port="${PG_PORT:-5442}"
pg_bin=/usr/lib/postgresql/15/bin

install_missing() {
  local need=()
  command -v rabbitmq-server >/dev/null || need+=(rabbitmq-server)
  command -v redis-server >/dev/null || need+=(redis-server)
  [ -x "$pg_bin/initdb" ] || need+=(postgresql)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  fi
  if ! command -v promtool >/dev/null; then
    echo "installing prometheus (for promtool)" >&2
    [ ${#need[@]} -gt 0 ] || apt-get update -qq >&2
    # No recommends: promtool needs none, and they would pull in Prometheus's exporters.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
  fi
}

start_redis() {
  if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then return; fi
  mkdir -p "$state/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes --save "" \
    --appendonly yes --appendfsync everysec --dir "$state/redis" --pidfile "$state/redis/redis.pid" \
    --logfile "$state/redis/redis.log" >&2
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "redis did not start" >&2; exit 1
}

start_postgres() {
  mkdir -p "$state/pg"; chown postgres "$state/pg"; chmod 700 "$state/pg"
  # postgres must be able to traverse to its data directory
  chmod o+x "$state" "$here" 2>/dev/null || true
  if [ ! -f "$state/pg/data/PG_VERSION" ]; then
    su postgres -c "$pg_bin/initdb -D $state/pg/data -A trust -U postgres" >/dev/null
  fi
  if ! "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; then
    su postgres -c "$pg_bin/pg_ctl -D $state/pg/data -l $state/pg/pg.log -w \
      -o '-p $pg_port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200' start" >/dev/null
  fi
  psql -h 127.0.0.1 -p "$pg_port" -U postgres -tc "select 1 from pg_database where datname='aim'" \
    | grep -q 1 || psql -h 127.0.0.1 -p "$pg_port" -U postgres -c "create database aim" >/dev/null
}

start_rabbit() {
  export RABBITMQ_NODENAME="aim-test-$rabbit_port@localhost"
  export RABBITMQ_NODE_PORT="$rabbit_port"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_DIST_PORT=$((rabbit_port + 20000))
  export RABBITMQ_MNESIA_BASE="$state/rabbit/mnesia"
  export RABBITMQ_LOG_BASE="$state/rabbit/log"
  export RABBITMQ_PID_FILE="$state/rabbit/rabbit.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$state/rabbit/enabled_plugins"
  mkdir -p "$state/rabbit/mnesia" "$state/rabbit/log"
  [ -f "$RABBITMQ_ENABLED_PLUGINS_FILE" ] || echo "[]." > "$RABBITMQ_ENABLED_PLUGINS_FILE"
  chown -R rabbitmq "$state/rabbit" 2>/dev/null || true
  if rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; then return; fi
  rabbitmq-server -detached >/dev/null 2>&1 || true
  for _ in $(seq 120); do
    rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1 && return
    sleep 1
  done
  echo "rabbitmq did not start; see $state/rabbit/log" >&2; exit 1
}

write_env() {
  cat > "$state/env" <<ENV
export QUEUE_CONNECTIONURL=amqp://guest:guest@127.0.0.1:$rabbit_port/
export REDIS_URI=redis://127.0.0.1:$redis_port/0
export TIMESCALE_SERVICE_URL=postgresql://postgres@127.0.0.1:$pg_port/aim
export RABBITMQ_NODENAME=aim-test-$rabbit_port@localhost
export RABBIT_CTL_ENV="RABBITMQ_NODENAME=aim-test-$rabbit_port@localhost RABBITMQ_NODE_PORT=$rabbit_port RABBITMQ_MNESIA_BASE=$state/rabbit/mnesia RABBITMQ_LOG_BASE=$state/rabbit/log RABBITMQ_PID_FILE=$state/rabbit/rabbit.pid RABBITMQ_ENABLED_PLUGINS_FILE=$state/rabbit/enabled_plugins RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=$((rabbit_port + 20000))"
ENV
  cat "$state/env"
}

stop_all() {
  [ -f "$state/redis/redis.pid" ] && kill "$(cat "$state/redis/redis.pid")" 2>/dev/null || true
  [ -d "$state/pg/data" ] && su postgres -c "$pg_bin/pg_ctl -D $state/pg/data -m fast stop" >/dev/null 2>&1 || true
  if [ -f "$state/rabbit/rabbit.pid" ]; then
    RABBITMQ_NODENAME="aim-test-$rabbit_port@localhost" rabbitmqctl -q stop >/dev/null 2>&1 \
      || kill "$(cat "$state/rabbit/rabbit.pid")" 2>/dev/null || true
  fi
}

case "${1:-start}" in
  start) mkdir -p "$state"; install_missing; start_redis; start_postgres; start_rabbit; write_env ;;
  stop) stop_all ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
