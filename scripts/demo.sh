#!/usr/bin/env bash
# A first look at the audit core: builds `signet`, writes a few chained entries to a
# fresh log with a fresh key, verifies the log, tampers with one byte, and shows the
# verifier catching it. (The gateway itself, `signet serve`/`signet demo`, arrives
# with the proxy runtime.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin signet
bin=target/release/signet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" keys generate-hmac --out "$dir/hmac.key"
export SIGNET_HMAC_SECRET_FILE="$dir/hmac.key"
for who in human:alice@example.com agent:nightly-syncer policy:acme-default; do
  "$bin" audit append "$dir/audit.jsonl" --owner "$who" --reason "demo entry for $who" --decision allow --meta path=/v1/chat/completions
done
echo "--- the log"
"$bin" audit tail -n 5 "$dir/audit.jsonl"
echo "--- verify"
"$bin" audit verify "$dir/audit.jsonl"
echo "--- tamper: change one byte of line 2 (nightly-syncer -> nightly-syncex)"
sed -i '2s/nightly-syncer/nightly-syncex/' "$dir/audit.jsonl"
set +e
"$bin" audit verify "$dir/audit.jsonl"
echo "verify exit code: $? (2 = integrity failure)"
