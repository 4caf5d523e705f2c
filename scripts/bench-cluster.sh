#!/usr/bin/env bash
# Runs the same flock-bench scenario against one node and against two nodes linked by a
# private Redis, one after the other, so docs/performance.md can put the figures side by
# side. Usage: scripts/bench-cluster.sh cursors --users 200 --hz 30 --secs 30 --observers 20
# Needs the release binaries:
#   cargo build --release --features bench --bin flock --bin flock-bench
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 <flock-bench scenario and its flags>" >&2; exit 2; }

. scripts/bench-nodes.sh

echo "== one node"
node 3310 "$work/single"
target/release/flock-bench --server 127.0.0.1:3310 --server-pid "${pids[0]}" "$@"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

echo "== two nodes, users split between them, Redis on port $REDIS_PORT"
start_redis
node 3311 "$work/n1" "redis://127.0.0.1:$REDIS_PORT"
node 3312 "$work/n2" "redis://127.0.0.1:$REDIS_PORT"
redis_pid=$(redis-cli -p "$REDIS_PORT" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
target/release/flock-bench --server 127.0.0.1:3311,127.0.0.1:3312 \
  --server-pid "${pids[0]},${pids[1]},$redis_pid" "$@"
