#!/usr/bin/env bash
# Rooms chatting and a cursor room beside them on one fresh release server: the chat
# scenario runs with the flags given, and 8 s in a 30-user cursor room at 30 Hz measures
# what the chat load does to it. Prints both summaries and the store's batch figures.
#   scripts/bench-isolation.sh --rooms 1000 --users 10 --rate 1.0 --secs 20
set -euo pipefail
cd "$(dirname "$0")/.."
port=${FLOCK_BENCH_PORT:-3300}
out=$(mktemp -d /tmp/flock-isolation-XXXXXX)
cargo build --release --features bench --bin flock --bin flock-bench
FLOCK_ADDR=127.0.0.1:$port FLOCK_DATA_DIR=$out/data FLOCK_MAX_CONNS_PER_IP=100000 FLOCK_MAX_PENDING_PER_IP=100000 \
  FLOCK_CONNECTS_PER_SEC=1000000 FLOCK_ROOMS_PER_MINUTE=1000000 FLOCK_CHATS_PER_SEC=1000000 FLOCK_LOG=warn \
  target/release/flock > "$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
until curl -sf "127.0.0.1:$port/healthz" > /dev/null; do sleep 0.1; done
target/release/flock-bench --server "127.0.0.1:$port" --server-pid $server chat "$@" > "$out/chat.txt" &
chat=$!
sleep 8
target/release/flock-bench --server "127.0.0.1:$port" cursors --users 30 --hz 30 --secs 10 > "$out/cursors.txt"
wait $chat
cat "$out/chat.txt"
echo; echo "a 30-user cursor room at 30 Hz during the chat run:"
cat "$out/cursors.txt"
echo; echo "store batches:"
curl -s "127.0.0.1:$port/metrics" | grep -E '^flock_store_(batch_writes|commit_seconds)_(sum|count)'
