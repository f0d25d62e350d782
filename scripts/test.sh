#!/usr/bin/env bash
# The project's test command: installs test tools, then runs every test (unit,
# integration, property, crash, interop, doc tests), then fmt and clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-tools.sh
export SIGNET_TEST_VENV="${SIGNET_TEST_VENV:-$PWD/target/test-tools/venv}"
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
