#!/usr/bin/env bash
# Rooms chatting and a cursor room beside them on one fresh release server: the chat
# scenario runs with the flags given, and 8 s in a 30-user cursor room at 30 Hz measures
# what the chat load does to it. Prints both summaries and the store's batch figures.
#   scripts/bench-isolation.sh --rooms 1000 --users 10 --rate 1.0 --secs 20
set -euo pipefail
cd "$(dirname "$0")/.."
port=${FLOCK_BENCH_PORT:-3300}
cargo build --release --features bench --bin flock --bin flock-bench
. scripts/bench-nodes.sh
node "$port" "$work/data"
server=${pids[0]}
out=$work
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
