#!/usr/bin/env bash
# Sets up a fresh machine and starts Flock, optimized, on http://127.0.0.1:3000.
# Extra arguments go to the server after `--`, e.g. `./scripts/run.sh -- --max-chat-chars 500`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# wasm-opt for the release bundle comes from the npm package binaryen (version 132):
# Debian's older binaryen produces pages that never hydrate.
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# --precompress leaves .br and .gz beside the bundle, which the server sends as asked.
exec cargo leptos serve --release --precompress "$@"
