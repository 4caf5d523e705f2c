#!/usr/bin/env bash
# Runs the same flock-bench scenario against one node and against two nodes linked by a
# private Redis, one after the other, so docs/performance.md can put the figures side by
# side. Usage: scripts/bench-cluster.sh cursors --users 200 --hz 30 --secs 30 --observers 20
# Needs the release binaries:
#   cargo build --release --features bench --bin flock --bin flock-bench
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 <flock-bench scenario and its flags>" >&2; exit 2; }

REDIS_PORT=${REDIS_PORT:-6391}
work=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

node() { # node <port> <data dir> [bus]
  FLOCK_ADDR=127.0.0.1:$1 FLOCK_DATA_DIR=$2 FLOCK_MAX_CONNS_PER_IP=100000 FLOCK_MAX_PENDING_PER_IP=100000 FLOCK_CONNECTS_PER_SEC=1000000 FLOCK_ROOMS_PER_MINUTE=1000000 FLOCK_CHATS_PER_SEC=1000000 FLOCK_LOG=warn LEPTOS_OUTPUT_NAME=flock \
    env ${3:+FLOCK_BUS=$3} target/release/flock &
  pids+=($!)
  until curl -sf "127.0.0.1:$1/healthz" | grep -qx ok; do sleep 0.1; done
}

echo "== one node"
node 3310 "$work/single"
target/release/flock-bench --server 127.0.0.1:3310 --server-pid "${pids[0]}" "$@"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

echo "== two nodes, users split between them, Redis on port $REDIS_PORT"
redis-server --port "$REDIS_PORT" --save "" --appendonly no --daemonize yes >/dev/null
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.1; done
node 3311 "$work/n1" "redis://127.0.0.1:$REDIS_PORT"
node 3312 "$work/n2" "redis://127.0.0.1:$REDIS_PORT"
redis_pid=$(redis-cli -p "$REDIS_PORT" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
target/release/flock-bench --server 127.0.0.1:3311,127.0.0.1:3312 \
  --server-pid "${pids[0]},${pids[1]},$redis_pid" "$@"
