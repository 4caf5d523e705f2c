#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: unit and real-server tests with cargo,
# then the browser tests with Playwright in Debian's chromium against a real build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"

echo; echo "== cargo test (the server half, with the flock-bench load generator)"
cargo test --features bench

echo; echo "== cargo leptos build"
cargo leptos build

echo; echo "== Playwright"
cd end2end
npx playwright test
