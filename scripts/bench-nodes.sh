# Sourced by the benchmark scripts: release Flock nodes with the per-client limits raised
# (every benchmark connection comes from 127.0.0.1), a private Redis to link them, and
# cleaning up after. Sets `work` (a temporary directory) and `pids` (the nodes started).
REDIS_PORT=${REDIS_PORT:-6391}
work=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# node <port> <data dir> [bus]: starts a node and waits until it is healthy.
node() {
  FLOCK_ADDR=127.0.0.1:$1 FLOCK_DATA_DIR=$2 FLOCK_MAX_CONNS_PER_IP=100000 FLOCK_MAX_PENDING_PER_IP=100000 \
    FLOCK_CONNECTS_PER_SEC=1000000 FLOCK_ROOMS_PER_MINUTE=1000000 FLOCK_CHATS_PER_SEC=1000000 FLOCK_LOG=warn \
    LEPTOS_OUTPUT_NAME=flock env ${3:+FLOCK_BUS=$3} target/release/flock &
  pids+=($!)
  until curl -sf "127.0.0.1:$1/healthz" | grep -qx ok; do sleep 0.1; done
}

# start_redis: a Redis on $REDIS_PORT that keeps nothing on disk.
start_redis() {
  redis-server --port "$REDIS_PORT" --save "" --appendonly no --daemonize yes >/dev/null
  until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.1; done
}
