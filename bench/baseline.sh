#!/usr/bin/env bash
# Is this tree slower than an earlier revision? Our gateway built from HEAD next to the
# same gateway built from REV (default: the revision before the last merge of main,
# given as the first argument, e.g. `bench/baseline.sh 7b16424`), in the same run,
# against the same bench upstream, alternating the two in rounds, for unary requests
# and for SSE streams (a 64 KiB stream, inspected event by event).
#
# It prints req/s, p99 and CPU per request (user + system from /proc) for each, and
# the ratios HEAD/REV: a ratio within the rounds' spread is noise. Use it before and
# after a change to the request path (the restructuring of issue #14 was checked so).
#
# REV is built in a scratch git worktree into $target/baseline (never the tree itself).
# Environment: BASE_DURATION (5 s per run), BASE_ROUNDS (5), BASE_CONNS (64),
# BASE_SSE_BYTES (65536), CARGO_TARGET_DIR, BENCH_DIR, BENCH_KEEP=1, BENCH_OUT.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
REV=${1:?usage: bench/baseline.sh REV (a git revision to compare HEAD with)}
DURATION=${BASE_DURATION:-5}
ROUNDS=${BASE_ROUNDS:-5}
CONNS=${BASE_CONNS:-64}
SSE_BYTES=${BASE_SSE_BYTES:-65536}
OWNER='human:bench@example.com'

say() { echo "baseline: $*" >&2; }
die() {
    echo "bench/baseline.sh: $*" >&2
    exit 1
}

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
KEEP_WORK=${BENCH_KEEP:-0}

command -v wrk >/dev/null || apt_install wrk
command -v curl >/dev/null || apt_install curl
rev=$(git -C "$root" rev-parse --short "$REV^{commit}") || die "not a revision: $REV"

bench_workdir signet-baseline

say "building signet and bench_upstream at HEAD (release)"
(cd "$root" && cargo build --release --quiet --bin signet --example bench_upstream)
upstream_bin=$target/release/examples/bench_upstream

say "building signet at $rev (release, scratch worktree)"
scratch_signet "$rev" baseline

export SIGNET_HMAC_SECRET
SIGNET_HMAC_SECRET=$(random_hex32)

start_upstream upstream
UNARY_UP=$UP
start_upstream upstream-sse --sse-bytes "$SSE_BYTES"
SSE_UP=$UP
declare -A URL PID BIN
BIN[head]=$target/release/signet
BIN[base]=$SCRATCH_BIN
setups=()
for build in head base; do
    for kind in unary sse; do
        name=$build-$kind
        up=$UNARY_UP
        [[ $kind == unary ]] || up=$SSE_UP
        port=$(free_port)
        mkdir -p "$work/$name"
        "${BIN[$build]}" serve --upstream "http://$up/v1" --host 127.0.0.1 --port "$port" \
            --audit-log "$work/$name/audit.jsonl" >"$work/$name/log" 2>&1 &
        PID[$name]=$!
        pids+=($!)
        URL[$name]=http://127.0.0.1:$port/v1/chat/completions
        setups+=("$name")
    done
done

printf '%s' "$UNARY_BODY" >"$work/body.json"
printf '%s' '{"model":"bench-1","stream":true,"messages":[{"role":"user","content":"Stream a long answer."}]}' >"$work/stream.json"
wrk_script body
wrk_script stream
for s in "${setups[@]}"; do
    [[ $s == *-sse ]] || wait_ok "$s" "${URL[$s]}" "$work/$s/log"
done

TICK_US=$((1000000 / $(getconf CLK_TCK)))
results=$work/results
: >"$results"
run() { # NAME
    local name=$1 script=body conns=$CONNS u0 s0 u1 s1 line
    if [[ $name == *-sse ]]; then script=stream conns=8; fi
    read -r u0 s0 < <(proc_ticks "${PID[$name]}")
    line=$(wrk -t2 -c"$conns" -d"${DURATION}s" --timeout 10s -s "$work/$script.lua" "${URL[$name]}" \
        | grep '^BENCH ') || die "wrk failed on $name"
    read -r u1 s1 < <(proc_ticks "${PID[$name]}")
    line=$(awk -v l="${line#BENCH }" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v k="$TICK_US" '
        BEGIN { split(l, f, " "); for (i in f) { split(f[i], kv, "="); v[kv[1]] = kv[2] }
                n = v["n"] > 0 ? v["n"] : 1
                printf "rps=%s p99_us=%s n=%s bad=%d cpu_us=%.2f", v["rps"], v["p99_us"], v["n"], v["non2xx"] + v["errors"], (u + s) * k / n }')
    echo "closed $name $line" >>"$results"
    say "$name $line"
}
for ((r = 0; r < ROUNDS; r++)); do
    say "round $((r + 1))/$ROUNDS"
    for s in $(rotated "$r" "${setups[@]}"); do run "$s"; done
done

bad=$(awk '{ for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "bad") b += kv[2] } } END { print b + 0 }' "$results")
# spread NAME KEY: "min-max" of KEY over the rounds.
spread() {
    awk -v n="$1" -v k="$2" '$2 == n { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) { v = kv[2] + 0; if (!c++ || v < lo) lo = v; if (c == 1 || v > hi) hi = v } } }
        END { printf "%.0f-%.0f", lo, hi }' "$results"
}
{
    echo "HEAD $(git -C "$root" rev-parse --short HEAD) against $rev, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cpus"
    echo "wrk -t2 -d${DURATION}s (unary: $CONNS connections; sse: 8 connections, $SSE_BYTES-byte streams),"
    echo "median of $ROUNDS alternating rounds; CPU = user + system of the gateway per request"
    printf '%-12s %10s %14s %9s %10s\n' setup req/s "req/s range" p99_us cpu_us
    for s in "${setups[@]}"; do
        printf '%-12s %10.0f %14s %9.0f %10.2f\n' "$s" "$(median closed "$s" rps)" "$(spread "$s" rps)" \
            "$(median closed "$s" p99_us)" "$(median closed "$s" cpu_us)"
    done
    for kind in unary sse; do
        awk -v k="$kind" -v hr="$(median closed "head-$kind" rps)" -v br="$(median closed "base-$kind" rps)" \
            -v hc="$(median closed "head-$kind" cpu_us)" -v bc="$(median closed "base-$kind" cpu_us)" \
            'BEGIN { printf "%-6s HEAD/REV req/s %.3fx, CPU per request %+.2f us (%.3fx)\n", k, hr / br, hc - bc, hc / bc }'
    done
    echo "  bad responses or errors over all runs: $bad"
} | tee "$work/report.txt"
[[ $bad == 0 ]] || die "some requests failed (see above)"
if [[ -n ${BENCH_OUT:-} ]]; then cp "$work/report.txt" "$BENCH_OUT"; fi
