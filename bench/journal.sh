#!/usr/bin/env bash
# Journal append throughput with group commit, against one write + fdatasync per entry.
#
# Builds and runs the signet-audit `journal_bench` example in release. Arguments are
# passed through (default: --entries 5000 --writers 1,8,64 --rounds 3); see
# `bench/journal.sh --help`. The log lives under BENCH_DIR (default $TMPDIR or /tmp):
# run it on the disk you care about, since fsync latency is what is measured.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}

echo "building (release)" >&2
(cd "$root" && cargo build --release --quiet -p signet-audit --example journal_bench)
args=("$@")
if [[ -n ${BENCH_DIR:-} ]]; then
    mkdir -p "$BENCH_DIR"
    args=(--dir "$BENCH_DIR" "${args[@]}")
fi
exec "$target/release/examples/journal_bench" "${args[@]}"
