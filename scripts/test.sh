#!/usr/bin/env bash
# The project's test command (README). Unit, integration, snapshot,
# property and compile-fail tests of every crate, then doctests (nextest
# skips those), then the mission protocols through the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
cargo test --workspace --locked --doc

echo "== choreo check protocols/choreo/*.choreo"
cargo run --quiet --locked -p choreo-cli -- check protocols/choreo/*.choreo

echo "== choreo verify protocols/choreo/*.choreo"
cargo run --quiet --locked -p choreo-cli -- verify protocols/choreo/*.choreo > /dev/null
