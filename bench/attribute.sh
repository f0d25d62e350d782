#!/usr/bin/env bash
# Where a request's CPU goes, natively: our gateway next to copies of itself with one
# stage skipped, and next to the floor (examples/bench_floor, a bare proxy made of the
# same hyper parts, no audit).
#
# callgrind (profile.sh) counts instructions but not the kernel, cache misses, or the
# cost of handing work between threads; this measures CPU time per request (user and
# system, from /proc) and req/s under the same closed-loop load, so the difference
# between two variants is what the skipped stage costs on this machine.
#
# The skipping lives only in bench/knockout.patch, applied to a scratch git worktree of
# HEAD and built into $target/knockout: the gateway in the tree has no way to skip a
# stage. SIGNET_KO (comma-separated) picks what the scratch build skips:
#   fp       the SHA-256 fingerprints of request and response bodies
#   admit    every admission check
#   inspect  the response split and the inspectors (unary)
#   commit   the journal and the receipt: the response goes out unaudited (unary)
# and what it adds, as probes (use them with `commit`):
#   yield    one more turn of the serving thread's runtime (a park and a wake)
#   hop      a round trip to a thread that does nothing: the journal's hand-off and
#            wake-up without the journal's work
# A variant that skips `commit` is a proxy that forwards without an audit entry: it
# exists here only to be measured, on loopback, against the bench upstream.
#
# Environment: ATTR_DURATION (5 s per run), ATTR_ROUNDS (3, alternating, median),
# ATTR_CONNS (64), ATTR_VARIANTS ("none fp admit inspect commit inspect,commit
# fp,admit,inspect,commit"; "none" is the whole gateway), CARGO_TARGET_DIR, BENCH_DIR,
# BENCH_KEEP=1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
DURATION=${ATTR_DURATION:-5}
ROUNDS=${ATTR_ROUNDS:-3}
CONNS=${ATTR_CONNS:-64}
read -r -a VARIANTS <<<"${ATTR_VARIANTS:-none fp admit inspect commit inspect,commit fp,admit,inspect,commit}"
OWNER='human:bench@example.com'

say() { echo "attribute: $*" >&2; }
die() {
    echo "bench/attribute.sh: $*" >&2
    exit 1
}

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
KEEP_WORK=${BENCH_KEEP:-0}

command -v wrk >/dev/null || apt_install wrk
command -v curl >/dev/null || apt_install curl
command -v git >/dev/null || die "git is needed (the knockout build is a git worktree)"

bench_workdir signet-attribute

say "building bench_upstream and bench_floor (release)"
(cd "$root" && cargo build --release --quiet --example bench_upstream --example bench_floor)
upstream_bin=$target/release/examples/bench_upstream

say "building the knockout gateway (HEAD + bench/knockout.patch, scratch worktree)"
scratch_signet HEAD knockout "$root/bench/knockout.patch"
ko_bin=$SCRATCH_BIN

export SIGNET_HMAC_SECRET
SIGNET_HMAC_SECRET=$(random_hex32)

start_upstream upstream
UNARY_UP=$UP
declare -A URL PID
PID[direct]=$UP_PID
start_listener "$target/release/examples/bench_floor" floor --upstream "$UNARY_UP"
PID[floor]=$UP_PID
URL[floor]=http://$UP/v1/chat/completions
for v in "${VARIANTS[@]}"; do
    port=$(free_port)
    mkdir -p "$work/$v"
    SIGNET_KO=$v "$ko_bin" serve --upstream "http://$UNARY_UP/v1" --host 127.0.0.1 \
        --port "$port" --audit-log "$work/$v/audit.jsonl" >"$work/$v/log" 2>&1 &
    PID[$v]=$!
    pids+=($!)
    URL[$v]=http://127.0.0.1:$port/v1/chat/completions
done

printf '%s' "$UNARY_BODY" >"$work/body.json"
wrk_script body
setups=(floor "${VARIANTS[@]}")
wait_ok floor "${URL[floor]}" "$work/floor.out"
for v in "${VARIANTS[@]}"; do wait_ok "$v" "${URL[$v]}" "$work/$v/log"; done

TICK_US=$((1000000 / $(getconf CLK_TCK)))
results=$work/results
: >"$results"
run() { # NAME
    local name=$1 u0 s0 u1 s1 line
    read -r u0 s0 < <(proc_ticks "${PID[$name]}")
    line=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$work/body.lua" "${URL[$name]}" \
        | grep '^BENCH ') || die "wrk failed on $name"
    read -r u1 s1 < <(proc_ticks "${PID[$name]}")
    line=$(awk -v l="${line#BENCH }" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v k="$TICK_US" '
        BEGIN { split(l, f, " "); for (i in f) { split(f[i], kv, "="); v[kv[1]] = kv[2] }
                n = v["n"] > 0 ? v["n"] : 1
                printf "rps=%s n=%s bad=%d user_us=%.2f sys_us=%.2f", v["rps"], v["n"], v["non2xx"] + v["errors"], u * k / n, s * k / n }')
    echo "closed $name $line" >>"$results"
    say "$name $line"
}
for ((r = 0; r < ROUNDS; r++)); do
    say "round $((r + 1))/$ROUNDS"
    for s in $(rotated "$r" "${setups[@]}"); do run "$s"; done
done

bad=$(awk '{ for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "bad") b += kv[2] } } END { print b + 0 }' "$results")

{
    echo "where the CPU goes, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cpus, HEAD $(git -C "$root" rev-parse --short HEAD)"
    echo "wrk -t2 -c$CONNS -d${DURATION}s, unary chat POST, median of $ROUNDS alternating rounds;"
    echo "CPU = user + system time of the proxy process per request (all its threads)"
    printf '%-30s %9s %8s %8s %9s %14s\n' variant req/s user_us sys_us total_us "vs whole"
    whole=$(awk -v u="$(median closed none user_us)" -v s="$(median closed none sys_us)" 'BEGIN { print u + s }')
    for s in "${setups[@]}"; do
        label=$s
        [[ $s != none ]] || label="none (the whole gateway)"
        [[ $s != floor ]] || label="floor (hyper, no audit)"
        [[ $s == none || $s == floor ]] || label="SIGNET_KO=$s"
        awk -v l="$label" -v r="$(median closed "$s" rps)" -v u="$(median closed "$s" user_us)" \
            -v s="$(median closed "$s" sys_us)" -v w="$whole" \
            'BEGIN { t = u + s; printf "%-30s %9.0f %8.2f %8.2f %9.2f %+13.2f\n", l, r, u, s, t, t - w }'
    done
    echo "  (\"vs whole\": CPU per request against the whole gateway; a skipped stage's"
    echo "   negative figure is what that stage costs, including its effects on the threads)"
    echo "  bad responses or errors over all runs: $bad"
} | tee "$work/report.txt"
[[ $bad == 0 ]] || die "some requests failed (see above)"
if [[ -n ${BENCH_OUT:-} ]]; then cp "$work/report.txt" "$BENCH_OUT"; fi
