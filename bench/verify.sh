#!/usr/bin/env bash
# Throughput and memory of `signet audit verify`, against `sha256sum` of the same file.
#
# Generates a valid chained log of BENCH_VERIFY_BYTES (default 1G; K/M/G are powers of
# 1024) and one ten times smaller, then for each: sha256sum (raw read + hash), then
# `signet audit verify --json`, both on a warm page cache, timed and measured with GNU
# time. Fails if verify does not say the log is intact, or if peak RSS on the large log
# exceeds the small log's by more than max(25%, 4 MiB): verify must stream.
#
# Environment: BENCH_VERIFY_BYTES, CARGO_TARGET_DIR, BENCH_DIR (where logs go, default a
# new directory under $TMPDIR or /tmp), BENCH_KEEP=1 to keep the logs.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
size_spec=${BENCH_VERIFY_BYTES:-1G}

to_bytes() {
    local s=$1 n mult=1
    case $s in
        *[kK]) n=${s%?}; mult=1024 ;;
        *[mM]) n=${s%?}; mult=$((1024 * 1024)) ;;
        *[gG]) n=${s%?}; mult=$((1024 * 1024 * 1024)) ;;
        *) n=$s ;;
    esac
    [[ $n =~ ^[0-9]+$ ]] || { echo "bench/verify.sh: bad size '$s'" >&2; exit 64; }
    echo $((n * mult))
}

ensure_gnu_time() {
    if /usr/bin/time --version 2>&1 | grep -q GNU; then return; fi
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    echo "installing GNU time" >&2
    # Only refresh the package lists if installing from the current ones fails.
    $sudo apt-get install -y -qq time >/dev/null 2>&1 \
        || { $sudo apt-get update -qq && $sudo apt-get install -y -qq time >/dev/null; }
}

large=$(to_bytes "$size_spec")
small=$((large / 10))
ensure_gnu_time

echo "building (release)" >&2
(cd "$root" && cargo build --release --quiet --bin signet \
    && cargo build --release --quiet -p signet-audit --example gen_log)
signet=$target/release/signet
gen=$target/release/examples/gen_log

if [[ -n ${BENCH_DIR:-} ]]; then
    mkdir -p "$BENCH_DIR"
    work=$(mktemp -d "$BENCH_DIR/signet-verify.XXXXXX")
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/signet-verify.XXXXXX")
fi
if [[ ${BENCH_KEEP:-0} != 1 ]]; then trap 'rm -rf "$work"' EXIT; fi

# A throwaway key for this run only.
SIGNET_HMAC_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SIGNET_HMAC_SECRET

now_ns() { date +%s%N; }

# timed NAME CMD...: runs CMD under GNU time; sets T_SECS, T_RSS_KB, T_RC.
timed() {
    local name=$1 t0 t1
    shift
    t0=$(now_ns)
    T_RC=0
    /usr/bin/time -v -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err" || T_RC=$?
    t1=$(now_ns)
    T_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    T_RSS_KB=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/$name.time")
}

declare -A R
measure() {
    local tag=$1 bytes=$2 log=$work/$1.jsonl entries
    echo "generating $tag log ($bytes bytes)" >&2
    "$gen" --bytes "$bytes" --out "$log" >"$work/gen-$tag.out"
    entries=$(sed -n 's/.*entries=\([0-9]*\).*/\1/p' "$work/gen-$tag.out")
    R[$tag.entries]=$entries
    R[$tag.bytes]=$(stat -c %s "$log")
    R[$tag.gen]=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$work/gen-$tag.out")

    timed "sha-$tag" sha256sum "$log"
    [[ $T_RC -eq 0 ]] || { echo "sha256sum failed" >&2; exit 1; }
    R[$tag.sha_s]=$T_SECS

    timed "verify-$tag" "$signet" audit verify --json "$log"
    if [[ $T_RC -ne 0 ]] || ! grep -q '"ok":true' "$work/verify-$tag.out" \
        || ! grep -q "\"entries\":$entries," "$work/verify-$tag.out"; then
        echo "bench/verify.sh: verify did not report OK on the $tag log (exit $T_RC)" >&2
        head -c 2000 "$work/verify-$tag.out" "$work/verify-$tag.err" >&2
        exit 1
    fi
    R[$tag.verify_s]=$T_SECS
    R[$tag.rss]=$T_RSS_KB
}

measure large "$large"
measure small "$small"

echo
echo "signet audit verify vs sha256sum (warm page cache, $(nproc) cpus)"
printf '%-6s %10s %9s %9s %11s %8s %9s %9s %10s %12s\n' \
    log MB entries verify_s entries/s MB/s rss_KB sha_s sha_MB/s verify/sha
for tag in large small; do
    awk -v tag="$tag" -v b="${R[$tag.bytes]}" -v n="${R[$tag.entries]}" -v v="${R[$tag.verify_s]}" \
        -v s="${R[$tag.sha_s]}" -v rss="${R[$tag.rss]}" 'BEGIN {
        mb = b / 1e6
        printf "%-6s %10.1f %9d %9.2f %11.0f %8.1f %9d %9.2f %10.1f %11.2fx\n",
            tag, mb, n, v, n / v, mb / v, rss, s, mb / s, v / s
    }'
done
echo "(verify/sha = verify wall time / sha256sum wall time; generation took ${R[large.gen]} s and ${R[small.gen]} s)"

limit=$((R[small.rss] + (R[small.rss] / 4 > 4096 ? R[small.rss] / 4 : 4096)))
echo "peak RSS: ${R[large.rss]} KB on ${R[large.bytes]} bytes, ${R[small.rss]} KB on ${R[small.bytes]} bytes (limit $limit KB)"
if ((R[large.rss] > limit)); then
    echo "bench/verify.sh: peak RSS grows with log size; verify is not streaming" >&2
    exit 1
fi
echo "peak RSS is flat across a 10x size difference"
