#!/usr/bin/env bash
# Profiles the server during one flock-bench scenario: perf samples the server process
# (software cpu-clock, which works on VMs without hardware counters) for the whole run,
# then prints where its CPU time went, by shared object and by function.
# Usage: scripts/profile.sh cursors --users 500 --hz 30 --secs 20 --observers 20
# Needs the release binaries and perf (Debian: apt-get install linux-perf):
#   cargo build --release --features bench --bin flock --bin flock-bench
# The samples stay in $PROFILE_OUT (default /tmp/flock-profile) for `perf report -i`.
# FLOCK_BIN_DIR profiles other builds of flock and flock-bench (default target/release).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 <flock-bench scenario and its flags>" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 2; }

out=${PROFILE_OUT:-/tmp/flock-profile}
port=${PROFILE_PORT:-3320}
bin=${FLOCK_BIN_DIR:-target/release}
mkdir -p "$out"
rm -rf "$out/data"
FLOCK_ADDR=127.0.0.1:$port FLOCK_DATA_DIR=$out/data FLOCK_MAX_CONNS_PER_IP=100000 FLOCK_MAX_PENDING_PER_IP=100000 FLOCK_CONNECTS_PER_SEC=1000000 FLOCK_ROOMS_PER_MINUTE=1000000 FLOCK_CHATS_PER_SEC=1000000 FLOCK_LOG=warn \
  LEPTOS_OUTPUT_NAME=flock "$bin/flock" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
until curl -sf "127.0.0.1:$port/healthz" | grep -qx ok; do sleep 0.1; done

perf record -q -e cpu-clock -F 499 -g -p "$server" -o "$out/perf.data" 2>/dev/null &
recorder=$!
"$bin/flock-bench" --server "127.0.0.1:$port" --server-pid "$server" "$@"
kill -INT "$recorder"
wait "$recorder" 2>/dev/null || true

echo; echo "== server CPU by shared object"
perf report -i "$out/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8
echo; echo "== server CPU by function (self time, top 30)"
perf report -i "$out/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null \
  | grep -v '^#' | grep -v '^$' | head -30
