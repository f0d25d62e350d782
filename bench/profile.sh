#!/usr/bin/env bash
# Instruction profile of `signet serve` under a short load, with callgrind.
#
# Starts the bench upstream (examples/bench_upstream.rs) and our release gateway under
# `valgrind --tool=callgrind` (default policy, fsync'd journal), warms it up, zeroes the
# counters, loads it with wrk for PROFILE_SECONDS, dumps, and prints instructions per
# request (requests = audit entries written during the measured window) and the
# functions with the most inclusive and self instructions.
#
# Usage: bench/profile.sh [hmac|ed25519|ckpt|sse]   (default hmac)
#   hmac     unary chat POSTs, HMAC receipts
#   ed25519  the same with --receipt-key (Ed25519 receipts)
#   ckpt     Ed25519 receipts and --log-key checkpoints
#   sse      SSE streams of PROFILE_SSE_BYTES (default 262144) each, HMAC receipts
#
# Callgrind counts instructions, repeatably, on a noisy machine; it does not see time
# spent in the kernel (syscalls, fsync) or waiting. Under valgrind the CPU reports no
# SHA extensions, so sha2 runs its portable code: SHA-256 weighs several times more
# here than natively (where it uses SHA-NI when the CPU has it).
#
# Environment: PROFILE_SECONDS (8), PROFILE_CONNS (16), PROFILE_SSE_BYTES, PROFILE_OUT
# (a directory to keep callgrind.out and the annotations in), CARGO_TARGET_DIR.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
variant=${1:-hmac}
SECONDS_=${PROFILE_SECONDS:-8}
CONNS=${PROFILE_CONNS:-16}
SSE_BYTES=${PROFILE_SSE_BYTES:-262144}
case $variant in hmac | ed25519 | ckpt | sse) ;; *)
    echo "usage: bench/profile.sh [hmac|ed25519|ckpt|sse]" >&2
    exit 64
    ;;
esac

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
    echo "installing ${need[*]} (apt-get)" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
        || { as_root apt-get update -qq \
            && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }
fi

echo "building signet and bench_upstream (release)" >&2
(cd "$root" && cargo build --release --quiet --bin signet --example bench_upstream)
signet=$target/release/signet

work=$(mktemp -d "${TMPDIR:-/tmp}/signet-profile.XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [[ -n ${PROFILE_OUT:-} ]]; then
        mkdir -p "$PROFILE_OUT"
        cp "$work"/callgrind.out* "$work"/*.txt "$PROFILE_OUT"/ 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SIGNET_HMAC_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SIGNET_HMAC_SECRET

up_args=()
[[ $variant != sse ]] || up_args=(--sse-bytes "$SSE_BYTES")
"$target/release/examples/bench_upstream" --addr 127.0.0.1:0 "${up_args[@]}" >"$work/up.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    up=$(sed -n 's/^listening on \([0-9.:]*\).*/\1/p' "$work/up.out")
    [[ -z $up ]] || break
    sleep 0.05
done
[[ -n $up ]] || { echo "upstream did not start" >&2; exit 1; }

gw_args=()
case $variant in
    ed25519)
        "$signet" keys generate-ed25519 --out "$work/receipt.pem" >/dev/null
        gw_args=(--receipt-key "$work/receipt.pem")
        ;;
    ckpt)
        "$signet" keys generate-ed25519 --out "$work/receipt.pem" >/dev/null
        "$signet" keys generate-ed25519 --out "$work/log.pem" >/dev/null
        gw_args=(--receipt-key "$work/receipt.pem" --log-key "$work/log.pem" --origin bench.example/audit)
        ;;
esac
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
log=$work/audit.jsonl
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
    "$signet" serve --upstream "http://$up/v1" --host 127.0.0.1 --port "$port" \
    --audit-log "$log" "${gw_args[@]}" >"$work/gateway.log" 2>&1 &
gw=$!
pids+=("$gw")
for _ in $(seq 240); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.5
done

if [[ $variant == sse ]]; then
    body='{"model":"bench-1","stream":true,"messages":[{"role":"user","content":"Stream a long answer."}]}'
else
    body='{"model":"bench-1","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64}'
fi
cat >"$work/load.lua" <<EOF
wrk.method = "POST"
wrk.body = [[$body]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Commit-Owner"] = "human:bench@example.com"
EOF
url=http://127.0.0.1:$port/v1/chat/completions
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -H 'X-Commit-Owner: human:bench@example.com' --data-binary "$body" "$url")
[[ $code == 200 ]] || { echo "gateway answered $code" >&2; tail -5 "$work/gateway.log" >&2; exit 1; }

echo "warm-up, then ${SECONDS_} s of load at $CONNS connections under callgrind" >&2
wrk -t1 -c"$CONNS" -d3s --timeout 30s -s "$work/load.lua" "$url" >/dev/null
sleep 1
callgrind_control -z "$gw" >/dev/null
before=$(wc -l <"$log")
wrk -t1 -c"$CONNS" -d"${SECONDS_}s" --timeout 30s -s "$work/load.lua" "$url" >"$work/wrk.txt"
sleep 1 # let the last commits land
after=$(wc -l <"$log")
callgrind_control -d "$gw" >/dev/null
sleep 1
dump=$(ls -t "$work"/callgrind.out.* | head -1)
requests=$((after - before))

callgrind_annotate --inclusive=yes --threshold=100 "$dump" >"$work/inclusive.txt" 2>/dev/null
set +o pipefail # the report below cuts its listings short (head, awk exit)
callgrind_annotate --inclusive=no --threshold=100 "$dump" >"$work/self.txt" 2>/dev/null
# table FILE: the function table only (callgrind_annotate then annotates source files,
# repeating lines), paths shortened, one line per function (the first, largest).
table() {
    awk 'f && /^--/ { if (n) exit; next } f && NF { print; n++ } /^Ir +file:function/ { f = 1 }' "$1" \
        | sed -E 's#/root/.cargo/registry/src/[^/]+/##; s#/rustc/[0-9a-f]+/library/#std:#; s#/work/[^ ]*/(src|crates)/#\1/#; s# \[[^]]*\]$##' \
        | awk '{ key = $0; sub(/^[^:]*:[^:]*:/, "", key); sub(/^ *[0-9,]+ +\([ 0-9.%]+\) +[^:]*:/, "", key); if (!seen[key]++) print }'
}
total=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$work/self.txt")
sha=$(table "$work/inclusive.txt" | awk '/sha2::sha256::compress256$/ { gsub(",", "", $1); print $1; exit }')

echo
echo "variant $variant: $requests requests (audit entries) in the measured window"
awk -v t="$total" -v n="$requests" -v s="${sha:-0}" 'BEGIN {
    printf "instructions: %d total, %.0f per request; of which SHA-256 compression (portable code under valgrind) %.0f per request (%.0f%%)\n",
        t, t / n, s / n, 100 * s / t }'
echo
echo "inclusive, our code and the libraries it calls (Ir, % of total):"
table "$work/inclusive.txt" | grep -E 'signet|regex|sha2|ed25519|curve25519|hyper::proto|malloc|free' \
    | grep -vE 'tokio-|std::sys|core::ops::function' | head -45 | cut -c1-200
echo
echo "self (exclusive) cost, top 25:"
# (thread entry points carry their callees' cost even here: left out)
table "$work/self.txt" | grep -vE 'clone\.S|start_thread|thread_start|vtable\.shim|tokio-[0-9.]+/src/runtime' \
    | head -25 | cut -c1-200
