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
. scripts/bench-nodes.sh
start_redis
for port in 3331 3332; do
  node "$port" "$work/$port" "redis://127.0.0.1:$REDIS_PORT"
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
