# shellcheck shell=bash disable=SC2034,SC2154 # globals are set and read by the sourcing script
# Shell functions shared by the bench scripts (`compare.sh`, `soak.sh`, `attribute.sh`,
# `perf.sh`). Sourced, never run. The sourcing script defines `say` and `die` first;
# `start_upstream` needs `$upstream_bin` (the release `examples/bench_upstream`).
#
# bench_workdir PREFIX sets `$work` (under $BENCH_DIR when set, else $TMPDIR or /tmp)
# and installs an EXIT trap that stops every process whose pid was added to `pids`, then
# removes `$work` unless `$KEEP_WORK` is 1.

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    say "installing $* (apt-get)"
    # Only refresh the package lists if installing from the current ones fails.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 \
        || { as_root apt-get update -qq \
            && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pids=()
extra_dirs=() # more directories to remove at exit (e.g. under /dev/shm)
bench_cleanup() {
    local p d
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for d in "${extra_dirs[@]}"; do rm -rf "$d"; done
    if [[ ${KEEP_WORK:-0} == 1 ]]; then say "kept $work"; else rm -rf "$work"; fi
}

bench_workdir() {
    if [[ -n ${BENCH_DIR:-} ]]; then
        mkdir -p "$BENCH_DIR"
        work=$(mktemp -d "$BENCH_DIR/$1.XXXXXX")
    else
        work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    fi
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

# scratch_signet REV OUT [PATCH]: builds `signet` at git revision REV (with PATCH
# applied, when given) in a scratch worktree under $work, into $target/OUT, and sets
# SCRATCH_BIN; the tree itself is never touched, and the worktree goes at exit.
scratch_signet() {
    local rev=$1 out=$2 patch=${3:-}
    scratch_tree=$work/tree
    git -C "$root" worktree add --quiet --detach "$scratch_tree" "$rev"
    trap 'scratch_cleanup; bench_cleanup' EXIT
    if [[ -n $patch ]]; then
        git -C "$scratch_tree" apply "$patch" || die "$patch no longer applies to $rev: refresh it"
    fi
    (cd "$scratch_tree" && CARGO_TARGET_DIR=$target/$out cargo build --release --quiet --bin signet)
    SCRATCH_BIN=$target/$out/release/signet
}
scratch_cleanup() {
    git -C "$root" worktree remove --force "$scratch_tree" 2>/dev/null || true
    git -C "$root" worktree prune 2>/dev/null || true
}

# Rotates the order each round so no setup always runs first or last.
rotated() { # ROUND NAMES...
    local r=$1 n i
    shift
    local a=("$@")
    n=${#a[@]}
    for ((i = 0; i < n; i++)); do echo "${a[$(((i + r) % n))]}"; done
}

# median TAG NAME FIELD: median over rounds of one field of the lines
# `TAG NAME key=value...` in `$results`.
median() {
    awk -v tag="$1" -v name="$2" -v f="$3" '
        $1 == tag && $2 == name { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) v[n++] = kv[2] } }
        END {
            if (n == 0) { print "nan"; exit }
            for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
            if (n % 2) print v[int(n / 2)]; else print (v[n / 2 - 1] + v[n / 2]) / 2
        }' "$results"
}

# The unary chat request every load script sends, sent as OWNER (set by the caller).
UNARY_BODY='{"model":"bench-1","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64}'

# wrk_script NAME: $work/NAME.lua, which POSTs $work/NAME.json as $OWNER and prints one
# line when wrk is done: `BENCH rps= p50_us= p99_us= n= non2xx= errors=`.
wrk_script() {
    cat >"$work/$1.lua" <<EOF
wrk.method = "POST"
wrk.body = [[$(cat "$work/$1.json")]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Commit-Owner"] = "$OWNER"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH rps=%.1f p50_us=%d p99_us=%d n=%d non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50),
    latency:percentile(99), summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout))
end
EOF
}

post() { # URL BODYFILE [curl args...]
    local url=$1 file=$2
    shift 2
    curl -sS --max-time 10 -H 'Content-Type: application/json' -H "X-Commit-Owner: $OWNER" \
        --data-binary "@$file" "$@" "$url"
}

# wait_ok NAME URL [LOG]: POSTs $work/body.json until it gets a 200 (20 s at most);
# fails early, with LOG's tail (default $work/NAME.log), if PID[NAME] has exited.
wait_ok() {
    local name=$1 url=$2 log=${3:-$work/$1.log} code=""
    for _ in $(seq 200); do
        code=$(post "$url" "$work/body.json" -o /dev/null -w '%{http_code}' 2>/dev/null || true)
        [[ $code == 200 ]] && return 0
        if [[ -n ${PID[$name]:-} ]] && ! kill -0 "${PID[$name]}" 2>/dev/null; then
            die "$name exited: $(tail -5 "$log" 2>/dev/null)"
        fi
        sleep 0.1
    done
    die "$name did not answer 200 (last: $code): $(tail -5 "$log" 2>/dev/null)"
}

# proc_ticks PID...: "user system" clock ticks used so far by these processes (all
# their threads).
proc_ticks() {
    local p
    for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done \
        | awk '{ sub(/^.*\) /, ""); u += $12; s += $13 } END { print u + 0, s + 0 }'
}

# random_hex32: 32 random bytes as 64 lowercase hex digits (an HMAC secret).
random_hex32() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# start_upstream NAME ARGS...: the bench upstream on 127.0.0.1:0; sets UP (host:port)
# and UP_PID.
start_upstream() {
    start_listener "$upstream_bin" "$@"
}

# start_listener BIN NAME ARGS...: BIN --addr 127.0.0.1:0 ARGS, a program that prints
# `listening on ADDR` once bound (the bench upstream, the floor proxy); sets UP and
# UP_PID.
start_listener() {
    local bin=$1 name=$2 _
    shift 2
    # Created first: the loop below may read it before the child has opened it.
    : >"$work/$name.out"
    "$bin" --addr 127.0.0.1:0 "$@" >"$work/$name.out" 2>&1 &
    UP_PID=$!
    pids+=($!)
    for _ in $(seq 100); do
        UP=$(sed -n 's/^listening on \([0-9.:]*\).*/\1/p' "$work/$name.out")
        [[ -z $UP ]] || return 0
        sleep 0.05
    done
    die "$name did not start: $(cat "$work/$name.out")"
}
