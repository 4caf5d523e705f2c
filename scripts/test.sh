#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: formatting and lints first (they fail in
# seconds), then unit and real-server tests with cargo, then the browser tests with
# Playwright in Debian's chromium against a real build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"

echo; echo "== cargo fmt --check"
cargo fmt --check

echo; echo "== cargo clippy (the server half, the load generator, tests and benches)"
cargo clippy --all-targets --features bench -- -D warnings

echo; echo "== cargo clippy (flock-bench alone: the wire contract and a WebSocket client)"
cargo clippy --bin flock-bench --features loadgen -- -D warnings

echo; echo "== cargo clippy (the browser half, for wasm32)"
cargo clippy --lib --target wasm32-unknown-unknown --features hydrate -- -D warnings

echo; echo "== cargo test (the server half, with the flock-bench load generator)"
cargo test --features bench

echo; echo "== the TypeScript client: its types are what docs/protocol.schema.json generates, and its tests"
echo "   against the flock binary cargo test built"
(cd clients/typescript && npm run --silent check && npm test)

echo; echo "== cargo leptos build"
cargo leptos build

echo; echo "== the release bundle's size, against its budget"
./scripts/bundle-size.sh

echo; echo "== Playwright"
cd end2end
npx playwright test
