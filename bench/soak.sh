#!/usr/bin/env bash
# The soak: our gateway (default policy, fsync'd group-commit journal, HMAC receipts;
# with SOAK_LOG_KEY=1 also signed checkpoints) under mixed closed-loop traffic for
# SOAK_SECONDS, with flat memory, no lost entry and a verifiable log.
#
# Builds `signet`, `examples/bench_upstream` and `examples/soak_client` in release,
# starts the bench upstream and the gateway on 127.0.0.1 in a temporary directory, and
# runs `soak_client run` with SOAK_CONNS connections at the highest rate they reach.
# The mix (per mille): allowed unary chat 560, allowed SSE streams 150, no owner header
# (403) 80, unknown X-Classification (400) 80, a body one byte over the cap (413) 80,
# clients gone mid-request-body 25 and mid-stream 25 (5 % aborts). Every request is
# tagged in its query, so its entry can be found even when the client never saw an
# answer.
#
# Meanwhile the gateway's VmRSS (from /proc/PID/status) and its number of open file
# descriptors are sampled every second into rss.csv. At the end the gateway is stopped with SIGTERM (it must exit 0), `signet
# audit verify` checks the log, and `soak_client check` checks that every receipt's
# entry is in the log (lost = 0) with the receipt's signature, and that every request,
# refused and aborted ones included, has exactly one entry with the expected status
# (the gateway's guarantee: see src/pipeline.rs; a client that leaves mid-body gets a
# 400 `request_body` entry, one that leaves mid-stream a `client_disconnect` or, if
# the stream had already been handed over, a completed one).
#
# Flat memory: the mean RSS over the last fifth of the run (the last minute of the
# default 5) may exceed the mean over the second fifth (minute 2, after a minute of
# warm-up) by at most max(SOAK_RSS_GROWTH_PCT %, SOAK_RSS_GROWTH_MIN_KB).
#
# Exits 1 on any violation: a client saw an unexpected status or a transport error, the
# gateway did not exit 0, the log does not verify, an entry is lost, missing,
# duplicated or unaccounted for, or memory grew past the threshold.
#
# Environment: SOAK_SECONDS (300; 20 is a smoke run), SOAK_CONNS (32), SOAK_BODY_CAP
# (16384: the gateway's body cap), SOAK_SSE_BYTES (8192: bytes per stream),
# SOAK_LOG_KEY (0), SOAK_ONLY (one kind only: chat, stream, no_owner, bad_class,
# over_cap, abort_body, abort_stream; to find where a trend comes from), SOAK_RSS_GROWTH_PCT (10), SOAK_RSS_GROWTH_MIN_KB (8192), SOAK_OUT
# (a directory: the report, rss.csv and the raw outputs are copied there), SOAK_KEEP=1
# (keep the temporary directory), BENCH_DIR, CARGO_TARGET_DIR.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
DURATION=${SOAK_SECONDS:-300}
CONNS=${SOAK_CONNS:-32}
CAP=${SOAK_BODY_CAP:-16384}
SSE_BYTES=${SOAK_SSE_BYTES:-8192}
LOG_KEY=${SOAK_LOG_KEY:-0}
GROWTH_PCT=${SOAK_RSS_GROWTH_PCT:-10}
GROWTH_MIN_KB=${SOAK_RSS_GROWTH_MIN_KB:-8192}
KEEP_WORK=${SOAK_KEEP:-0}

say() { echo "soak: $*" >&2; }
die() {
    echo "bench/soak.sh: $*" >&2
    exit 1
}
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 5 ]] || die "SOAK_SECONDS must be an integer >= 5"

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

say "building signet, bench_upstream and soak_client (release)"
(cd "$root" && cargo build --release --quiet --bin signet --example bench_upstream --example soak_client)
signet=$target/release/signet
upstream_bin=$target/release/examples/bench_upstream
client=$target/release/examples/soak_client

bench_workdir signet-soak
# The HMAC secret goes to the gateway and the verifier through a 0600 file.
(umask 077 && random_hex32 >"$work/hmac.key")
export SIGNET_HMAC_SECRET_FILE=$work/hmac.key

start_upstream upstream --sse-bytes "$SSE_BYTES"

log=$work/audit.jsonl
extra=()
verify_extra=()
if [[ $LOG_KEY == 1 ]]; then
    "$signet" keys generate-ed25519 --out "$work/log.pem" >/dev/null
    "$signet" keys vkey --origin soak.example/audit "$work/log.pem.pub" >"$work/log.vkey"
    extra=(--log-key "$work/log.pem" --origin soak.example/audit)
    # The checkpoints are verified too, with the public key only.
    verify_extra=(--log-key "$work/log.vkey")
fi
# Created before the gateway starts: the loop below may read them first.
: >"$work/gateway.out"
: >"$work/gateway.err"
SIGNET_MAX_REQUEST_BODY_BYTES=$CAP SIGNET_LOG=warn \
    "$signet" serve --upstream "http://$UP/v1" --host 127.0.0.1 --port 0 \
    --audit-log "$log" "${extra[@]}" >"$work/gateway.out" 2>"$work/gateway.err" &
GW_PID=$!
pids+=($!)
GW=""
for _ in $(seq 200); do
    GW=$(sed -n 's|^signet: listening on http://||p' "$work/gateway.out")
    [[ -z $GW ]] || break
    kill -0 "$GW_PID" 2>/dev/null || die "the gateway exited: $(tail -5 "$work/gateway.err")"
    sleep 0.05
done
[[ -n $GW ]] || die "the gateway did not start: $(tail -5 "$work/gateway.err")"
say "gateway $GW (pid $GW_PID), upstream $UP; $CONNS connections for ${DURATION}s"

# Every second: milliseconds since the start, VmRSS in kB, open file descriptors.
rss_csv=$work/rss.csv
echo "ms,rss_kb,fds" >"$rss_csv"
(
    t0=$(date +%s%N)
    while rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$GW_PID/status" 2>/dev/null) && [[ -n $rss ]]; do
        fds=$(find "/proc/$GW_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        echo "$((($(date +%s%N) - t0) / 1000000)),$rss,$fds" >>"$rss_csv"
        sleep 1
    done
) &
SAMPLER=$!
pids+=($!)

fail=()
set +e
"$client" run --addr "$GW" --seconds "$DURATION" --conns "$CONNS" --cap "$CAP" \
    --out "$work/records" ${SOAK_ONLY:+--only "$SOAK_ONLY"} >"$work/load.txt" 2>"$work/load.err"
load_rc=$?
set -e
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
[[ $load_rc -eq 0 ]] || fail+=("clients saw unexpected statuses or transport errors: $(head -5 "$work/load.err" | tr '\n' ' ')")

HWM=$(awk '/^VmHWM:/ { print $2 }' "/proc/$GW_PID/status")
kill -TERM "$GW_PID"
gw_rc=""
for _ in $(seq 600); do
    if ! kill -0 "$GW_PID" 2>/dev/null; then
        set +e
        wait "$GW_PID"
        gw_rc=$?
        set -e
        break
    fi
    sleep 0.05
done
[[ $gw_rc == 0 ]] || fail+=("the gateway did not exit 0 after SIGTERM (status '${gw_rc:-still running}')")

set +e
"$signet" audit verify --json "${verify_extra[@]}" "$log" >"$work/verify.json" 2>"$work/verify.err"
verify_rc=$?
"$client" check --log "$log" --records "$work/records" >"$work/check.txt" 2>"$work/check.err"
check_rc=$?
set -e
entries=$(sed -n 's/.*"entries":\([0-9]*\).*/\1/p' "$work/verify.json")
ts_warnings=$( { grep -o '"kind":"ts_non_monotonic"' "$work/verify.json" || true; } | wc -l)
[[ $verify_rc -eq 0 ]] || fail+=("signet audit verify exited $verify_rc: $(head -c 300 "$work/verify.json")")
[[ $check_rc -eq 0 ]] || fail+=("the log does not account for every request: $(head -5 "$work/check.err" | tr '\n' ' ')")

# RSS windows: second fifth and last fifth of the run.
read -r early late peak samples < <(awk -F, -v T="$((DURATION * 1000))" '
    NR > 1 {
        n++; if ($2 > peak) peak = $2
        if ($1 >= T / 5 && $1 < 2 * T / 5) { e += $2; ne++ }
        if ($1 >= 4 * T / 5) { l += $2; nl++ }
    }
    END { printf "%d %d %d %d\n", (ne ? e / ne : 0), (nl ? l / nl : 0), peak, n }' "$rss_csv")
# Trend: least-squares slope of VmRSS over the samples after the first fifth, kB/min.
slope=$(awk -F, -v T="$((DURATION * 1000))" '
    NR > 1 && $1 >= T / 5 { x = $1 / 60000; n++; sx += x; sy += $2; sxx += x * x; sxy += x * $2 }
    END { d = n * sxx - sx * sx; printf "%.0f", (n > 2 && d > 0 ? (n * sxy - sx * sy) / d : 0) }' "$rss_csv")
# Open descriptors: the most, and the last sample while loaded.
read -r fd_peak fd_last < <(awk -F, 'NR > 1 { if ($3 > p) p = $3; l = $3 } END { printf "%d %d\n", p, l }' "$rss_csv")
# Mean VmRSS of each fifth of the run, MB.
fifths=$(awk -F, -v T="$((DURATION * 1000))" '
    NR > 1 { i = int($1 * 5 / T); if (i > 4) i = 4; s[i] += $2; n[i]++ }
    END { for (i = 0; i < 5; i++) printf "%s%.1f", (i ? " " : ""), (n[i] ? s[i] / n[i] / 1024 : 0) }' "$rss_csv")
limit=$(awk -v e="$early" -v p="$GROWTH_PCT" -v m="$GROWTH_MIN_KB" \
    'BEGIN { x = e * p / 100; printf "%d", (x > m ? x : m) }')
((early > 0 && late > 0)) || fail+=("too few RSS samples ($samples)")
((late - early <= limit)) || fail+=("RSS grew from $early kB to $late kB (limit +$limit kB)")

report=$work/report.txt
{
    echo "signet-gateway soak, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cpus, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "gateway: default policy, fsync'd journal, HMAC receipts$([[ $LOG_KEY == 1 ]] && echo ", --log-key checkpoints"); body cap $CAP bytes; upstream streams of $SSE_BYTES bytes"
    echo "load: soak_client, $CONNS closed-loop connections, ${DURATION}s${SOAK_ONLY:+, only $SOAK_ONLY}"
    sed -n 's/^LOAD /  /p; s/^KIND /  /p; s/^CLIENT /  /p' "$work/load.txt"
    awk -v s="$samples" -v e="$early" -v l="$late" -v p="$peak" -v h="$HWM" -v lim="$limit" 'BEGIN {
        printf "memory: %d samples; peak VmRSS %.1f MB (VmHWM %.1f MB); mean VmRSS %.1f MB over the 2nd fifth of the run, %.1f MB over the last fifth: %+.1f MB (limit +%.1f MB)\n",
            s, p / 1024, h / 1024, e / 1024, l / 1024, (l - e) / 1024, lim / 1024 }'
    echo "memory by fifth of the run (mean VmRSS, MB): $fifths"
    echo "memory trend after the first fifth: $slope kB/min (least squares; reported, not a pass/fail criterion)"
    echo "open file descriptors: at most $fd_peak, $fd_last in the last sample under load"
    echo "gateway exit after SIGTERM: ${gw_rc:-none}"
    echo "signet audit verify: exit $verify_rc, ${entries:-?} entries, $ts_warnings ts_ns_non_monotonic warnings"
    if [[ $LOG_KEY == 1 ]]; then
        echo "checkpoints: $(sed -n 's/.*"checkpoints":\([0-9]*\).*/\1/p' "$work/verify.json") signed, covering $(sed -n 's/.*"covered_size":\([0-9]*\).*/\1/p' "$work/verify.json") entries (verified with the public key)"
    fi
    sed -n 's/^CHECK /log check: /p' "$work/check.txt"
    if ((${#fail[@]} == 0)); then
        echo "result: PASS"
    else
        echo "result: FAIL"
        for f in "${fail[@]}"; do echo "  - $f"; done
    fi
} | tee "$report"
if [[ -n ${SOAK_OUT:-} ]]; then
    mkdir -p "$SOAK_OUT"
    cp "$report" "$rss_csv" "$work/load.txt" "$work/check.txt" "$work/verify.json" "$SOAK_OUT/"
fi
((${#fail[@]} == 0)) || exit 1
