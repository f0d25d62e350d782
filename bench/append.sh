#!/usr/bin/env bash
# Multi-process append cost against log size.
#
# `signet audit append` opens the log in multi-process mode: per entry it takes the
# advisory lock, reads only the log's last line, writes and fsyncs. Its cost must not
# grow with the log (signet 0.1 rescans the whole file: ~95 ms per append at 4,000
# entries). This script times APPENDS appends on a small log (SMALL entries) and on a
# large one (LARGE entries) in the same run and prints the ratio large/small, which
# should stay near 1.
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL="${SMALL:-4000}"
LARGE="${LARGE:-400000}"
APPENDS="${APPENDS:-200}"
key=$(head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet --bin signet
cargo build --release --quiet -p signet-audit --example gen_log
gen=target/release/examples/gen_log
bin=target/release/signet

per_append_us() { # log -> microseconds per append (each one locked + fsync'd)
  local log=$1 t0 t1
  t0=$(date +%s%N)
  SIGNET_HMAC_SECRET=$key "$bin" audit append "$log" --reason bench --count "$APPENDS" >/dev/null
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 / APPENDS ))
}

"$gen" --entries "$SMALL" --out "$work/small.jsonl" --key-hex "$key" >/dev/null
"$gen" --entries "$LARGE" --out "$work/large.jsonl" --key-hex "$key" >/dev/null
sync  # flush the generated logs, so the first fsync below does not pay for them
small_mb=$(( $(stat -c %s "$work/small.jsonl") / 1048576 ))
large_mb=$(( $(stat -c %s "$work/large.jsonl") / 1048576 ))

# Alternate twice to spread machine noise over both sizes.
s1=$(per_append_us "$work/small.jsonl"); l1=$(per_append_us "$work/large.jsonl")
s2=$(per_append_us "$work/small.jsonl"); l2=$(per_append_us "$work/large.jsonl")
s=$(( (s1 + s2) / 2 )); l=$(( (l1 + l2) / 2 ))

printf '%-34s %12s %10s\n' "log" "entries" "us/append"
printf '%-34s %12s %10s\n' "small (${small_mb} MB)" "$SMALL" "$s"
printf '%-34s %12s %10s\n' "large (${large_mb} MB)" "$LARGE" "$l"
awk -v s="$s" -v l="$l" 'BEGIN { printf "ratio large/small: %.2f (1.00 = cost independent of log size)\n", l / s }'

SIGNET_HMAC_SECRET=$key "$bin" audit verify "$work/large.jsonl" >/dev/null
echo "large log verifies after the appends: OK"
