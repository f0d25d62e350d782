#!/usr/bin/env bash
# Fuzz smoke test: runs every cargo-fuzz target of crates/signet-audit for FUZZ_SECONDS
# (default 20) each and fails if any of them finds a crash, a panic or a hang, if the
# targets do not build, or if there is no target at all (a smoke test of nothing passes
# nothing).
#
# Needs the nightly toolchain (`cargo +nightly`); installs cargo-fuzz if it is missing.
# The corpus lives in crates/signet-audit/fuzz/corpus/<target> (not committed) and is
# seeded from the signet 0.1 fixture logs and a small log made by the gen_log example.
# Crashing inputs are kept in crates/signet-audit/fuzz/artifacts/<target>/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
crate=$root/crates/signet-audit
fixtures=$root/tests/fixtures/signet-0.1
seconds=${FUZZ_SECONDS:-20}

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz-smoke: the nightly toolchain is required (cargo +nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

logs=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-smoke.XXXXXX")
trap 'rm -rf "$logs"' EXIT

# Writes each line of the given files, without its newline, as one corpus file.
seed_lines() {
    local dir=$1
    shift
    awk -v d="$dir" 'length($0) > 0 {
        name = sprintf("seed-%s-%04d", FILENAME, FNR); gsub("/", "_", name)
        f = d "/" name; printf "%s", $0 > f; close(f)
    }' "$@"
}

seed() {
    local corpus=$crate/fuzz/corpus
    [[ -d $corpus/line_parser && -d $corpus/verify_stream && -d $corpus/json_roundtrip \
        && -d $corpus/tsa_chain && -d $corpus/tsa_response ]] && return
    echo "fuzz-smoke: seeding the corpus" >&2
    mkdir -p "$corpus"/{line_parser,verify_stream,json_roundtrip}
    (cd "$root" && cargo run --quiet -p signet-audit --example gen_log -- --entries 4 \
        --out "$logs/gen.jsonl" --key-hex "$(tr -d ' \n' <"$fixtures/hmac-secret.hex")" >/dev/null)
    local f name
    for f in "$fixtures"/*.jsonl "$fixtures"/tampered/*.jsonl "$logs/gen.jsonl"; do
        name=${f#"$fixtures/"}
        name=${name#"$logs/"}
        head -n 3 "$f" >"$corpus/verify_stream/seed-${name//\//_}"
    done
    (cd "$logs" && cp "$fixtures/audit.jsonl" "$fixtures/audit-anchored.jsonl" . \
        && seed_lines "$corpus/line_parser" audit.jsonl audit-anchored.jsonl gen.jsonl \
        && seed_lines "$corpus/json_roundtrip" audit.jsonl gen.jsonl)
    # tsa_chain: the fixture TSA receipt (a TimeStampResp that verifies), the bare token
    # inside it (after the 9-byte SEQUENCE / PKIStatusInfo header) and its certificates,
    # as DER.
    mkdir -p "$corpus/tsa_chain"
    grep -o '"receipt":"[^"]*"' "$fixtures/audit-anchored.jsonl" | head -n 1 | cut -d'"' -f4 \
        | base64 -d >"$corpus/tsa_chain/seed-receipt"
    tail -c +10 "$corpus/tsa_chain/seed-receipt" >"$corpus/tsa_chain/seed-token"
    for f in tsa.crt tsa-ca.crt; do
        sed '/-----/d' "$fixtures/$f" | base64 -d >"$corpus/tsa_chain/seed-$f"
    done
    # tsa_response: the same receipt and token.
    mkdir -p "$corpus/tsa_response"
    cp "$corpus/tsa_chain/seed-receipt" "$corpus/tsa_chain/seed-token" "$corpus/tsa_response/"
}

cd "$crate"
seed
echo "fuzz-smoke: building targets" >&2
if ! cargo +nightly fuzz build; then
    echo "fuzz-smoke: FAILED: the fuzz targets do not build (cargo +nightly fuzz build, above)" >&2
    exit 1
fi
# Not `mapfile < <(...)`: a failing list must fail the script, not yield no targets.
if ! listed=$(cargo +nightly fuzz list); then
    echo "fuzz-smoke: FAILED: cargo +nightly fuzz list failed" >&2
    exit 1
fi
mapfile -t targets < <(printf '%s\n' "$listed" | sed '/^[[:space:]]*$/d')
if ((${#targets[@]} == 0)); then
    echo "fuzz-smoke: FAILED: no fuzz target found in $crate/fuzz (cargo fuzz list is empty)" >&2
    exit 1
fi
failed=()
for t in "${targets[@]}"; do
    echo "fuzz-smoke: $t for ${seconds}s" >&2
    if cargo +nightly fuzz run "$t" -- -max_total_time="$seconds" -max_len=16384 -timeout=10 \
        >"$logs/$t.log" 2>&1; then
        grep -E '^Done [0-9]+ runs' "$logs/$t.log" | sed "s/^/  $t: /" || true
    else
        echo "fuzz-smoke: $t FAILED; last lines of its log:" >&2
        tail -n 40 "$logs/$t.log" >&2
        failed+=("$t")
    fi
done
if ((${#failed[@]})); then
    echo "fuzz-smoke: crashes in: ${failed[*]} (inputs in $crate/fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz-smoke: ${#targets[@]} targets, no crash"
