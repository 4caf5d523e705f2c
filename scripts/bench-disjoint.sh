#!/usr/bin/env bash
# Two nodes on a private Redis, each with rooms of its own: the same chat scenario runs
# against each node at once (different room names), then each node says how many room
# events it received from the bus (flock_bus_events_in_total). A node should hear only
# its own rooms' events, so that adding nodes adds capacity.
# Usage: scripts/bench-disjoint.sh --rooms 100 --users 10 --rate 1 --secs 10
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 <flock-bench chat flags>" >&2; exit 2; }
cargo build --release --features bench --bin flock --bin flock-bench

REDIS_PORT=${REDIS_PORT:-6392}
work=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

redis-server --port "$REDIS_PORT" --save "" --appendonly no --daemonize yes >/dev/null
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.1; done
for port in 3331 3332; do
  FLOCK_ADDR=127.0.0.1:$port FLOCK_DATA_DIR=$work/$port FLOCK_BUS=redis://127.0.0.1:$REDIS_PORT \
    FLOCK_MAX_CONNS_PER_IP=100000 FLOCK_MAX_PENDING_PER_IP=100000 FLOCK_CONNECTS_PER_SEC=1000000 \
    FLOCK_ROOMS_PER_MINUTE=1000000 FLOCK_CHATS_PER_SEC=1000000 FLOCK_LOG=warn LEPTOS_OUTPUT_NAME=flock \
    target/release/flock &
  pids+=($!)
  until curl -sf "127.0.0.1:$port/healthz" | grep -qx ok; do sleep 0.1; done
done
target/release/flock-bench --server 127.0.0.1:3331 --server-pid "${pids[0]}" chat --room-prefix disjoint-a "$@" > "$work/a.txt" &
a=$!
target/release/flock-bench --server 127.0.0.1:3332 --server-pid "${pids[1]}" chat --room-prefix disjoint-b "$@" > "$work/b.txt"
wait $a
for side in a b; do
  echo "== node $side's rooms"
  grep -E 'chats_sent|deliveries |deliveries_missing|latency_p50|latency_p99|server_cpu' "$work/$side.txt"
done
for port in 3331 3332; do
  printf 'node %s heard %s room events from the bus\n' "$port" \
    "$(curl -s "127.0.0.1:$port/metrics" | sed -n 's/^flock_bus_events_in_total //p')"
done
