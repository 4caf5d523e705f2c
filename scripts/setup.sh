#!/usr/bin/env bash
# Installs what Flock needs on a fresh Debian machine, skipping whatever is already there:
# rustfmt and clippy, the wasm32-unknown-unknown Rust target, cargo-leptos, the
# wasm-bindgen CLI matching the version pinned in Cargo.toml, the npm packages in end2end/
# (Playwright and binaryen's wasm-opt) and clients/typescript/ (tsc,
# json-schema-to-typescript), and, with --tests, what only the tests need: Debian's
# chromium for the browser tests, redis-server for the cluster tests and openssl for the
# TLS one (--browser is the old name).
# Nothing here downloads a prebuilt binary from outside the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

# The test command checks formatting and lints both halves.
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    step "adding the $component component"
    rustup component add "$component"
  fi
done

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  step "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 18 minutes on 2 cores)"
  # The newest cargo-leptos needs a newer rustc than this machine has.
  cargo install cargo-leptos@"$CARGO_LEPTOS_VERSION" --locked
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  step "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: its lock file names a crate version the registry no longer has.
  cargo install wasm-bindgen-cli@"$WASM_BINDGEN_VERSION"
fi

if [ ! -x end2end/node_modules/.bin/playwright ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  step "installing end2end npm packages (Playwright, binaryen)"
  # Playwright must not fetch its own browser: the tests use Debian's chromium.
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

if [ ! -x clients/typescript/node_modules/.bin/tsc ] || [ clients/typescript/package-lock.json -nt clients/typescript/node_modules/.package-lock.json ]; then
  step "installing the TypeScript client's npm packages (typescript, json-schema-to-typescript)"
  (cd clients/typescript && npm ci --no-audit --no-fund)
fi

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "$@"
}

for_tests=false
case "${1:-}" in --tests|--browser) for_tests=true ;; esac

if $for_tests && [ ! -x /usr/bin/chromium ]; then
  step "installing Debian's chromium"
  apt_install chromium
fi

# The cluster tests start private Redis servers of their own.
if $for_tests && ! command -v redis-server >/dev/null; then
  step "installing Debian's redis-server"
  apt_install redis-server
fi

# The TLS cluster test makes a throwaway certificate authority with openssl.
if $for_tests && ! command -v openssl >/dev/null; then
  step "installing Debian's openssl"
  apt_install openssl
fi
