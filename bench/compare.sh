#!/usr/bin/env bash
# Side by side on this machine, in one run: the upstream called directly, nginx
# (proxy_pass with upstream keep-alive), signet 0.1.10 (Python, with its audit log) and
# our gateway (default policy, fsync'd group-commit journal) with HMAC receipts, with
# Ed25519 receipts, and with Ed25519 receipts plus signed checkpoints (--log-key).
# For attribution only, `ours-ram` is ours-hmac with its audit log in RAM (/dev/shm,
# where fdatasync returns at once): not durable, never a target, it shows what the
# disk's fsync costs the durable setups. Also for attribution only, `floor` is
# examples/bench_floor: a bare proxy made of the same HTTP parts as ours (hyper server
# and client, per-CPU threads, pooled upstream connections, bodies read whole) with no
# admission, inspection or audit: the most any gateway built on them could reach here.
#
# Installs what it needs (nginx and wrk with apt-get, oha with `cargo install --locked`,
# a venv with signet-sign==0.1.10.1, reusing target/test-tools/venv when it has it),
# builds `signet` and `examples/bench_upstream` in release, starts everything on
# 127.0.0.1 in a temporary directory, and measures, alternating the setups in rounds:
#
# 1. closed loop (wrk, BENCH_CONNS connections, BENCH_DURATION s, BENCH_ROUNDS rounds):
#    req/s, p50, p99; the ratios ours/nginx and ours/signet.
# 2. open loop (oha -q RATE --latency-correction) at half of our HMAC saturation:
#    p50/p99 and the p99 added over direct. Skipped if oha cannot be installed.
# 3. streamed inspection: one BENCH_SSE_BYTES SSE stream at a time, direct and through
#    our gateway: added milliseconds per MB.
# 4. peak RSS (VmHWM) of each of our gateways, and `signet audit verify` of their logs.
#
# Every process it starts is stopped, and the directory removed, at exit. All traffic
# stays on loopback and every load run is bounded in time.
#
# Environment: BENCH_DURATION (8), BENCH_ROUNDS (3), BENCH_OPEN_ROUNDS (2), BENCH_CONNS
# (64), BENCH_WRK_THREADS (2), BENCH_LOG_KEY (1: include the checkpoint variant),
# BENCH_RAM (1: include the ours-ram attribution setup when /dev/shm is a tmpfs),
# BENCH_FLOOR (1: include the floor attribution setup),
# BENCH_SSE_BYTES (1048576), BENCH_NO_OHA=1, BENCH_QUICK=1 (2 s, 1 round: a smoke run),
# BENCH_DIR, BENCH_KEEP=1 (keep the directory), BENCH_OUT (also write the report
# there), CARGO_TARGET_DIR, SIGNET_TEST_VENV.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
DURATION=${BENCH_DURATION:-8}
ROUNDS=${BENCH_ROUNDS:-3}
OPEN_ROUNDS=${BENCH_OPEN_ROUNDS:-2}
CONNS=${BENCH_CONNS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
LOG_KEY=${BENCH_LOG_KEY:-1}
RAM=${BENCH_RAM:-1}
FLOOR=${BENCH_FLOOR:-1}
SSE_BYTES=${BENCH_SSE_BYTES:-1048576}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
    DURATION=2 ROUNDS=1 OPEN_ROUNDS=1
fi
OWNER='human:bench@example.com'

say() { echo "compare: $*" >&2; }
die() {
    echo "bench/compare.sh: $*" >&2
    exit 1
}

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
KEEP_WORK=${BENCH_KEEP:-0}

# ---------------------------------------------------------------- tools

nginx_bin=$(command -v nginx || true)
[[ -n $nginx_bin ]] || { [[ -x /usr/sbin/nginx ]] && nginx_bin=/usr/sbin/nginx; } || true
if [[ -z $nginx_bin ]]; then
    apt_install nginx-light || apt_install nginx
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
fi
command -v wrk >/dev/null || apt_install wrk
command -v python3 >/dev/null || apt_install python3
command -v curl >/dev/null || apt_install curl

oha_bin=""
if [[ ${BENCH_NO_OHA:-0} != 1 ]]; then
    oha_bin=$(command -v oha || true)
    [[ -n $oha_bin ]] || { [[ -x $HOME/.cargo/bin/oha ]] && oha_bin=$HOME/.cargo/bin/oha; } || true
    if [[ -z $oha_bin ]]; then
        say "installing oha (cargo install oha --locked; a few minutes)"
        if cargo install oha --locked --quiet >&2; then
            oha_bin=$(command -v oha || echo "$HOME/.cargo/bin/oha")
        else
            say "oha could not be installed: the open-loop latency part is skipped"
        fi
    fi
fi

venv_ok() {
    [[ -x $1/bin/signet ]] \
        && [[ $("$1/bin/pip" show signet-sign 2>/dev/null | awk '/^Version:/{print $2}') == 0.1.10.1 ]]
}
venv=${SIGNET_TEST_VENV:-$root/target/test-tools/venv}
if ! venv_ok "$venv"; then
    venv=$root/target/bench-tools/venv
    if ! venv_ok "$venv"; then
        python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
        say "creating $venv with signet-sign==0.1.10.1"
        mkdir -p "$(dirname "$venv")"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "signet-sign==0.1.10.1"
    fi
fi

say "building signet, bench_upstream and bench_floor (release)"
(cd "$root" && cargo build --release --quiet --bin signet --example bench_upstream \
    --example bench_floor)
signet=$target/release/signet
upstream_bin=$target/release/examples/bench_upstream

# ---------------------------------------------------------------- processes

bench_workdir signet-compare

HMAC_HEX=$(random_hex32)
export SIGNET_HMAC_SECRET=$HMAC_HEX

declare -A URL PID
# Request bodies: small unary chat, and a stream without max_tokens (no length cap).
printf '%s' "$UNARY_BODY" >"$work/body.json"
printf '%s' '{"model":"bench-1","stream":true,"messages":[{"role":"user","content":"Stream a long answer."}]}' >"$work/stream.json"
wrk_script body
wrk_script stream

start_upstream upstream
UNARY_UP=$UP
PID[direct]=$UP_PID
start_upstream upstream-sse --sse-bytes "$SSE_BYTES"
SSE_UP=$UP
PID[direct-sse]=$UP_PID
URL[direct]=http://$UNARY_UP/v1/chat/completions
URL[direct-sse]=http://$SSE_UP/v1/chat/completions

# nginx: generated config, foreground, as the current user, everything in $work.
nport=$(free_port)
mkdir -p "$work/nginx"
user_line=""
[[ $(id -u) -ne 0 ]] || user_line="user root;"
cat >"$work/nginx/nginx.conf" <<EOF
$user_line
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $work/nginx/client;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    upstream bench_upstream {
        server $UNARY_UP;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$nport;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' \
    >"$work/nginx.log" 2>&1 &
PID[nginx]=$!
pids+=($!)
URL[nginx]=http://127.0.0.1:$nport/v1/chat/completions

# signet 0.1.10 (Python): open-by-default pipeline, HMAC-chained audit log.
pport=$(free_port)
"$venv/bin/signet" serve --upstream "http://$UNARY_UP/v1" --host 127.0.0.1 --port "$pport" \
    --audit-log "$work/signet-py.jsonl" --hmac-secret "$HMAC_HEX" \
    >"$work/signet-py.log" 2>&1 &
PID[signet-py]=$!
pids+=($!)
URL[signet-py]=http://127.0.0.1:$pport/v1/chat/completions

"$signet" keys generate-ed25519 --out "$work/receipt.pem" >/dev/null
"$signet" keys generate-ed25519 --out "$work/log.pem" >/dev/null

# start_ours NAME UPSTREAM ARGS...: our gateway, default policy, fsync'd journal, its
# audit log at LOG[NAME] (default $work/NAME.jsonl).
declare -A LOG
start_ours() {
    local name=$1 up=$2 port
    shift 2
    port=$(free_port)
    LOG[$name]=${LOG[$name]:-$work/$name.jsonl}
    "$signet" serve --upstream "http://$up/v1" --host 127.0.0.1 --port "$port" \
        --audit-log "${LOG[$name]}" "$@" >"$work/$name.log" 2>&1 &
    PID[$name]=$!
    pids+=($!)
    URL[$name]=http://127.0.0.1:$port/v1/chat/completions
}
start_ours ours-hmac "$UNARY_UP"
start_ours ours-ed25519 "$UNARY_UP" --receipt-key "$work/receipt.pem"
ours=(ours-hmac ours-ed25519)
if [[ $LOG_KEY == 1 ]]; then
    start_ours ours-ckpt "$UNARY_UP" --receipt-key "$work/receipt.pem" \
        --log-key "$work/log.pem" --origin bench.example/audit
    ours+=(ours-ckpt)
fi
start_ours ours-sse "$SSE_UP"
attrib=()
if [[ $RAM == 1 && -d /dev/shm && $(stat -f -c %T /dev/shm) == tmpfs ]]; then
    ramdir=$(mktemp -d /dev/shm/signet-bench.XXXXXX)
    extra_dirs+=("$ramdir")
    LOG[ours-ram]=$ramdir/ours-ram.jsonl
    start_ours ours-ram "$UNARY_UP"
    attrib=(ours-ram)
fi

floor=()
if [[ $FLOOR == 1 ]]; then
    start_listener "$target/release/examples/bench_floor" floor --upstream "$UNARY_UP"
    PID[floor]=$UP_PID
    URL[floor]=http://$UP/v1/chat/completions
    floor=(floor)
fi

setups=(direct nginx signet-py "${ours[@]}" "${attrib[@]}" "${floor[@]}")
for s in "${setups[@]}"; do wait_ok "$s" "${URL[$s]}"; done
wait_ok ours-sse "${URL[ours-sse]}"

# Our gateways must answer with a receipt; a stream must arrive whole with its receipt.
for s in "${ours[@]}"; do
    post "${URL[$s]}" "$work/body.json" -o /dev/null -D "$work/$s.headers"
    grep -qi '^x-signet-receipt:' "$work/$s.headers" || die "$s answered without a receipt"
done
# The Ed25519 receipts (one signature per group-commit batch) verify offline with the
# public key against their entry.
for s in "${ours[@]}"; do
    [[ $s != ours-hmac ]] || continue
    tr -d '\r' <"$work/$s.headers" | grep -i '^x-signet-receipt:' >"$work/$s.receipt"
    "$signet" receipt verify "$work/$s.receipt" --receipt-key "$work/receipt.pem.pub" \
        --log "${LOG[$s]}" >"$work/$s.receipt-check" 2>&1 \
        || die "$s receipt does not verify: $(cat "$work/$s.receipt-check")"
done
post "${URL[ours-sse]}" "$work/stream.json" -o "$work/sse.body"
sse_len=$(stat -c %s "$work/sse.body")
grep -q 'signet-receipt' "$work/sse.body" || die "the stream through ours-sse has no receipt"
((sse_len >= SSE_BYTES)) || die "the stream through ours-sse was cut at $sse_len bytes"
say "all setups answer 200; our receipts present (Ed25519 ones verified); SSE stream $sse_len bytes arrives whole"

# ---------------------------------------------------------------- measuring

results=$work/results
: >"$results"

# cpu_ticks NAME: user+system clock ticks used so far by the setup's processes (for
# nginx the master and its workers; for direct, the upstream).
cpu_ticks() {
    local procs=("${PID[$1]}") u s
    [[ $1 != nginx ]] || mapfile -t -O 1 procs < <(pgrep -P "${PID[nginx]}" || true)
    read -r u s < <(proc_ticks "${procs[@]}")
    echo $((u + s))
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# closed NAME URL LUA DURATION CONNS THREADS TAG: one wrk run, appended to $results with
# the CPU time the proxy (cpu_us) and the upstream (up_us) spent per request.
closed() {
    local name=$1 url=$2 lua=$3 d=$4 c=$5 t=$6 tag=$7 line up=direct c0 c1 u0 u1 n
    [[ $name != *sse ]] || up=direct-sse
    c0=$(cpu_ticks "$name") u0=$(cpu_ticks "$up")
    line=$(wrk -t"$t" -c"$c" -d"${d}s" --timeout 5s -s "$lua" "$url" | grep '^BENCH ') \
        || die "wrk failed on $name"
    c1=$(cpu_ticks "$name") u1=$(cpu_ticks "$up")
    n=$(sed -n 's/.* n=\([0-9]*\).*/\1/p' <<<"$line")
    line+=$(awk -v c=$((c1 - c0)) -v u=$((u1 - u0)) -v n="$n" -v k="$TICK_US" \
        'BEGIN { printf " cpu_us=%.1f up_us=%.1f", c * k / (n > 0 ? n : 1), u * k / (n > 0 ? n : 1) }')
    echo "$tag $name ${line#BENCH }" >>"$results"
    say "$tag $name ${line#BENCH }"
}

# open NAME URL RATE TAG: one oha run at a fixed rate, appended to $results.
open_loop() {
    local name=$1 url=$2 rate=$3 tag=$4 line
    "$oha_bin" -z "${DURATION}s" -c "$CONNS" -q "$rate" --latency-correction --no-tui \
        --output-format json -m POST -H 'Content-Type: application/json' \
        -H "X-Commit-Owner: $OWNER" -D "$work/body.json" "$url" >"$work/oha.json" 2>"$work/oha.err" \
        || die "oha failed on $name: $(head -c 500 "$work/oha.err")"
    line=$(python3 - "$work/oha.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
s, p = d["summary"], d["latencyPercentiles"]
codes = d.get("statusCodeDistribution", {})
ok = sum(v for k, v in codes.items() if k.startswith("2"))
bad = sum(v for k, v in codes.items() if not k.startswith("2"))
# Requests cut off by the end of the run (-z) are not failures.
errs = sum(v for k, v in d.get("errorDistribution", {}).items() if "deadline" not in k)
print("rps=%.1f p50_us=%d p99_us=%d n=%d non2xx=%d errors=%d" % (
    s["requestsPerSec"], (p["p50"] or 0) * 1e6, (p["p99"] or 0) * 1e6, ok + bad, bad, errs))
EOF
    )
    echo "$tag $name $line" >>"$results"
    say "$tag $name $line"
}

say "warm-up (2 s each)"
for s in "${setups[@]}"; do
    closed "$s" "${URL[$s]}" "$work/body.lua" 2 "$CONNS" "$WRK_THREADS" warmup
done

for ((r = 0; r < ROUNDS; r++)); do
    say "closed loop, round $((r + 1))/$ROUNDS"
    for s in $(rotated "$r" "${setups[@]}"); do
        closed "$s" "${URL[$s]}" "$work/body.lua" "$DURATION" "$CONNS" "$WRK_THREADS" closed
    done
done

sum_field() {
    awk -v tag="$1" -v name="$2" -v f="$3" '
        $1 == tag && $2 == name { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) s += kv[2] } }
        END { print s + 0 }' "$results"
}

rate=""
if [[ -n $oha_bin ]]; then
    rate=$(awk -v x="$(median closed ours-hmac rps)" 'BEGIN { printf "%d", x / 2 }')
    open_setups=(direct nginx "${ours[@]}" "${attrib[@]}" "${floor[@]}")
    for ((r = 0; r < OPEN_ROUNDS; r++)); do
        say "open loop at $rate req/s, round $((r + 1))/$OPEN_ROUNDS"
        for s in $(rotated "$r" "${open_setups[@]}"); do
            open_loop "$s" "${URL[$s]}" "$rate" open
        done
    done
fi

sse_rounds=$((ROUNDS > 1 ? 2 : 1))
for ((r = 0; r < sse_rounds; r++)); do
    say "one SSE stream at a time, round $((r + 1))/$sse_rounds"
    for s in $(rotated "$r" direct-sse ours-sse); do
        closed "$s" "${URL[$s]}" "$work/stream.lua" "$((DURATION > 5 ? 5 : DURATION))" 1 1 sse
    done
done

# The disk under the audit logs, in the same run: bare write + fdatasync of a 700-byte
# line (what each group commit waits for), 400 times, in the logs' directory.
fsync_probe=$(python3 - "$work/fsync-probe.bin" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
t = []
for _ in range(400):
    os.write(fd, b"x" * 699 + b"\n")
    s = time.perf_counter()
    os.fdatasync(fd)
    t.append((time.perf_counter() - s) * 1e6)
os.close(fd)
os.unlink(sys.argv[1])
t.sort()
print("p50 %.0f us, p99 %.0f us, max %.0f us" % (t[200], t[396], t[-1]))
PY
)

# Peak memory of our gateways, then stop them (flushing their journals) and verify.
declare -A HWM RSS
for s in "${ours[@]}" ours-sse "${attrib[@]}"; do
    HWM[$s]=$(awk '/^VmHWM:/ { print $2 }' "/proc/${PID[$s]}/status")
    RSS[$s]=$(awk '/^VmRSS:/ { print $2 }' "/proc/${PID[$s]}/status")
done
declare -A ENTRIES
for s in "${ours[@]}" ours-sse "${attrib[@]}"; do
    kill -TERM "${PID[$s]}"
    wait "${PID[$s]}" 2>/dev/null || true
    "$signet" audit verify --json "${LOG[$s]}" >"$work/$s.verify" 2>&1 \
        || die "$s: its audit log does not verify: $(head -c 500 "$work/$s.verify")"
    ENTRIES[$s]=$(sed -n 's/.*"entries":\([0-9]*\).*/\1/p' "$work/$s.verify")
done

# ---------------------------------------------------------------- report

report=$work/report.txt
{
    echo "signet-gateway comparison, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cpus, $(uname -r)"
    echo "closed loop: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, median of $ROUNDS alternating rounds; unary chat POST"
    printf '%-13s %10s %9s %9s %13s %12s %9s %6s\n' setup req/s p50_ms p99_ms proxy_cpu_us upstr_cpu_us requests bad
    for s in "${setups[@]}"; do
        awk -v s="$s" -v rps="$(median closed "$s" rps)" -v p50="$(median closed "$s" p50_us)" \
            -v p99="$(median closed "$s" p99_us)" -v n="$(sum_field closed "$s" n)" \
            -v cpu="$(median closed "$s" cpu_us)" -v up="$(median closed "$s" up_us)" \
            -v bad="$(($(sum_field closed "$s" non2xx) + $(sum_field closed "$s" errors)))" \
            'BEGIN { printf "%-13s %10.0f %9.2f %9.2f %13s %12.1f %9d %6d\n", s, rps, p50 / 1000, p99 / 1000,
                         (s == "direct" ? "-" : sprintf("%.1f", cpu)), up, n, bad }'
    done
    echo "  (proxy_cpu_us, upstr_cpu_us: user+system CPU time per request of the proxy's and the"
    echo "   upstream's processes during the run; the load generator takes the rest of the 2 cores)"
    if ((${#attrib[@]})); then
        echo "  (ours-ram: ours-hmac with its audit log in RAM, /dev/shm, where fdatasync returns at"
        echo "   once; NOT durable, for attribution only: its gap to ours-hmac is the disk's fsync)"
    fi
    if ((${#floor[@]})); then
        echo "  (floor: examples/bench_floor, the same hyper server and client, threads and pooling"
        echo "   as ours with no admission, inspection or audit; NOT a gateway, for attribution only:"
        echo "   the most a gateway built on these HTTP parts could reach on this machine)"
    fi
    echo
    ratio() { # A B TARGET LABEL
        awk -v a="$(median closed "$1" rps)" -v b="$(median closed "$2" rps)" -v t="$3" -v l="$4" \
            'BEGIN { r = a / b; printf "  %-26s %8.3fx", l, r
                     if (t == "-") print ""; else printf "   target >= %sx  %s\n", t, (r >= t ? "met" : "MISSED") }'
    }
    echo "throughput ratios (req/s):"
    ratio ours-hmac nginx 0.8 "ours-hmac / nginx"
    ratio ours-ed25519 nginx 0.5 "ours-ed25519 / nginx"
    [[ $LOG_KEY != 1 ]] || ratio ours-ckpt nginx 0.5 "ours-ckpt / nginx"
    ratio ours-hmac signet-py 50 "ours-hmac / signet-py"
    ratio ours-ed25519 signet-py 50 "ours-ed25519 / signet-py"
    ratio nginx direct - "nginx / direct"
    if ((${#attrib[@]})); then ratio ours-ram nginx - "ours-ram / nginx (no fsync)"; fi
    if ((${#floor[@]})); then
        ratio floor nginx - "floor / nginx (no audit)"
        ratio ours-hmac floor - "ours-hmac / floor"
    fi
    if [[ -n $rate ]]; then
        echo
        echo "open loop: oha -c$CONNS -q $rate --latency-correction -z ${DURATION}s (half of ours-hmac's closed-loop req/s), median of $OPEN_ROUNDS rounds"
        printf '%-13s %10s %9s %9s %14s %8s\n' setup req/s p50_ms p99_ms p99_added_ms bad
        d99=$(median open direct p99_us)
        for s in "${open_setups[@]}"; do
            awk -v s="$s" -v rps="$(median open "$s" rps)" -v p50="$(median open "$s" p50_us)" \
                -v p99="$(median open "$s" p99_us)" -v d99="$d99" \
                -v bad="$(($(sum_field open "$s" non2xx) + $(sum_field open "$s" errors)))" \
                'BEGIN { add = (p99 - d99) / 1000
                         printf "%-13s %10.0f %9.2f %9.2f %14s %8d\n", s, rps, p50 / 1000, p99 / 1000,
                             (s == "direct" ? "-" : sprintf("%.2f%s", add, (s ~ /^ours/ && s != "ours-ram" ? (add < 1 ? " met" : " MISSED") : ""))), bad }'
        done
        echo "  (target: p99 added over direct < 1 ms for our gateway)"
        echo "  (a response waits for its entry's fdatasync; bare fdatasync of one line in the"
        echo "   logs' directory, this run: $fsync_probe)"
    else
        echo
        echo "open loop: skipped (no oha)"
    fi
    echo
    echo "streamed inspection: one ${sse_len}-byte SSE stream at a time (wrk -c1), median of $sse_rounds rounds"
    awk -v d="$(median sse direct-sse p50_us)" -v o="$(median sse ours-sse p50_us)" -v b="$sse_len" \
        'BEGIN { mb = b / 1048576
                 printf "  direct %.2f ms/stream (%.0f MB/s), ours %.2f ms/stream (%.0f MB/s): +%.2f ms per MiB\n",
                     d / 1000, mb / (d / 1e6), o / 1000, mb / (o / 1e6), (o - d) / 1000 / mb }'
    echo
    echo "our gateways: peak RSS (VmHWM) after all load, and their audit logs"
    for s in "${ours[@]}" ours-sse "${attrib[@]}"; do
        awk -v s="$s" -v h="${HWM[$s]}" -v r="${RSS[$s]}" -v e="${ENTRIES[$s]}" \
            'BEGIN { printf "  %-13s VmHWM %6.1f MB (VmRSS %5.1f MB) %s; log verifies OK, %d entries\n",
                     s, h / 1024, r / 1024, (h / 1024 < 64 ? "target < 64 MB met" : "target < 64 MB MISSED"), e }'
    done
} | tee "$report"
if [[ -n ${BENCH_OUT:-} ]]; then cp "$report" "$BENCH_OUT"; fi
