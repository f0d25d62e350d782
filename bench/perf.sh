#!/usr/bin/env bash
# Native sampling profile of `signet serve` (or of the floor proxy) under load, with
# `perf record -e cpu-clock`.
#
# callgrind (profile.sh) counts instructions repeatably but runs SHA-256 without SHA-NI
# and does not see the kernel, cache misses or thread hand-offs. This samples the real
# run instead: the software cpu-clock event needs no hardware counters, so it works on
# these virtual machines where `perf stat` does not. It starts the bench upstream and
# the release gateway (default policy, fsync'd journal), loads it with wrk
# (PERF_CONNS connections) and samples the gateway for PERF_SECONDS, then prints where
# its CPU went: by thread and user/kernel, the functions with the most self time, and
# the gateway's own functions by inclusive time. Sampled figures move by a few tenths
# of a percent from run to run: read the larger shares.
#
# Usage: bench/perf.sh [hmac|ed25519|floor]   (default hmac)
#   hmac     unary chat POSTs, HMAC receipts
#   ed25519  the same with --receipt-key (Ed25519 receipts)
#   floor    examples/bench_floor: the same HTTP parts with no audit (bench/README.md)
#
# Stacks are unwound from DWARF (the release build keeps line tables and no frame
# pointers), so the inclusive figures hold whole call chains.
#
# Environment: PERF_SECONDS (5), PERF_CONNS (64), PERF_FREQ (1000 samples/s per CPU),
# PERF_OUT (a directory to keep perf.data and the reports in), CARGO_TARGET_DIR,
# BENCH_DIR, BENCH_KEEP=1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
variant=${1:-hmac}
SECS=${PERF_SECONDS:-5}
CONNS=${PERF_CONNS:-64}
FREQ=${PERF_FREQ:-1000}
OWNER='human:bench@example.com'
case $variant in hmac | ed25519 | floor) ;; *)
    echo "usage: bench/perf.sh [hmac|ed25519|floor]" >&2
    exit 64
    ;;
esac

say() { echo "perf: $*" >&2; }
die() {
    echo "bench/perf.sh: $*" >&2
    exit 1
}

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
KEEP_WORK=${BENCH_KEEP:-0}

command -v perf >/dev/null || apt_install linux-perf
command -v wrk >/dev/null || apt_install wrk
command -v curl >/dev/null || apt_install curl

say "building signet, bench_upstream and bench_floor (release)"
(cd "$root" && cargo build --release --quiet --bin signet --example bench_upstream \
    --example bench_floor)
upstream_bin=$target/release/examples/bench_upstream
signet=$target/release/signet

bench_workdir signet-perf
export SIGNET_HMAC_SECRET
SIGNET_HMAC_SECRET=$(random_hex32)

start_upstream upstream
port=$(free_port)
if [[ $variant == floor ]]; then
    start_listener "$target/release/examples/bench_floor" floor --upstream "$UP"
    gw=$UP_PID
    url=http://$UP/v1/chat/completions
    log=$work/floor.out
else
    gw_args=()
    if [[ $variant == ed25519 ]]; then
        "$signet" keys generate-ed25519 --out "$work/receipt.pem" >/dev/null
        gw_args=(--receipt-key "$work/receipt.pem")
    fi
    "$signet" serve --upstream "http://$UP/v1" --host 127.0.0.1 --port "$port" \
        --audit-log "$work/audit.jsonl" "${gw_args[@]}" >"$work/gateway.log" 2>&1 &
    gw=$!
    pids+=("$gw")
    url=http://127.0.0.1:$port/v1/chat/completions
    log=$work/gateway.log
fi
declare -A PID=([$variant]=$gw)

printf '%s' "$UNARY_BODY" >"$work/body.json"
wrk_script body
wait_ok "$variant" "$url" "$log"

say "warm-up, then $SECS s of samples under wrk -c$CONNS"
wrk -t2 -c"$CONNS" -d2s -s "$work/body.lua" "$url" >/dev/null
wrk -t2 -c"$CONNS" -d"$((SECS + 2))s" --timeout 5s -s "$work/body.lua" "$url" >"$work/wrk.txt" &
load=$!
sleep 1
perf record -q -e cpu-clock -F "$FREQ" --call-graph dwarf,16384 -p "$gw" -o "$work/perf.data" -- sleep "$SECS" \
    >"$work/record.log" 2>&1 || die "perf record failed: $(tail -3 "$work/record.log")"
wait "$load"

set +o pipefail # the report below cuts its listings short (head)
report() { perf report -i "$work/perf.data" --stdio --no-header "$@" 2>/dev/null | grep -v '^#' | grep -v '^$'; }
{
    echo "variant $variant, $(date -u '+%Y-%m-%d %H:%M UTC'), HEAD $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "load: $(awk '/Requests\/sec/ { print $2 " req/s" }' "$work/wrk.txt") (wrk -t2 -c$CONNS, whole run)"
    echo "samples: perf record -e cpu-clock -F $FREQ --call-graph dwarf, $SECS s; % of the gateway's samples"
    echo
    echo "by thread and where (user code, libc, kernel):"
    report --no-children --sort comm,dso -g none | head -15
    echo
    echo "self time, top 30:"
    report --no-children --sort sym -g none | head -30 | cut -c1-150
    echo
    echo "inclusive time of the gateway's own functions (and hyper's), top 30:"
    report --children --sort sym -g none | grep -E 'signet|hyper::proto' | grep -v '(inlined)' \
        | head -30 | cut -c1-150
} | tee "$work/report.txt"
if [[ -n ${PERF_OUT:-} ]]; then
    mkdir -p "$PERF_OUT"
    cp "$work/perf.data" "$work/report.txt" "$PERF_OUT"/
fi
