#!/usr/bin/env bash
# CycloneDX SBOM of the release build of `signet`, validated.
#
# Writes target/sbom/signet.cdx.json (CycloneDX 1.5, JSON) describing the `signet`
# binary and every crate compiled into it for the host target (normal and build
# dependencies, no dev-dependencies), with the SHA-256 of target/release/signet recorded
# on the top component. Then fails unless:
#   - the document validates against the CycloneDX 1.5 JSON schema (strict: unknown
#     properties refused), with cyclonedx-python-lib's bundled schemas, offline;
#   - it describes our own crates: signet-gateway (the binary) and signet-audit;
#   - every crate `cargo tree` says is built into the binary is listed at its locked
#     version, and every listed crate is in Cargo.lock.
#
# Installs what it needs when missing: cargo-cyclonedx (crates.io, pinned, --locked) and
# a small venv with cyclonedx-python-lib (PyPI, pinned) under target/sbom-tools/.
# Set SOURCE_DATE_EPOCH for a reproducible timestamp.
set -euo pipefail
cd "$(dirname "$0")/.."

cyclonedx_version=0.5.9
pylib_version=11.12.0
out_dir=target/sbom
venv=target/sbom-tools/venv

if [ "$(cargo cyclonedx --version 2>/dev/null | awk '{print $2}')" != "$cyclonedx_version" ]; then
  echo "sbom: installing cargo-cyclonedx $cyclonedx_version" >&2
  cargo install cargo-cyclonedx --version "$cyclonedx_version" --locked
fi
if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
fi
if [ "$("$venv/bin/pip" show cyclonedx-python-lib 2>/dev/null | awk '/^Version:/{print $2}')" != "$pylib_version" ] \
   || ! "$venv/bin/python" -c 'import jsonschema, referencing' 2>/dev/null; then
  "$venv/bin/pip" install -q --disable-pip-version-check "cyclonedx-python-lib[json-validation]==$pylib_version"
fi

# The release binary the SBOM describes (the lock file must be up to date).
cargo build --release --locked --bin signet
host=$(rustc -vV | awk '/^host:/{print $2}')

work=$(mktemp -d)
trap 'rm -rf "$work"; rm -f signet_bin.cdx.json' EXIT
# cargo-cyclonedx writes next to Cargo.toml; the file is moved to target/sbom/ below.
cargo cyclonedx --format json --spec-version 1.5 --describe binaries --target "$host" -q
mv signet_bin.cdx.json "$work/raw.cdx.json"
cargo tree --locked -e normal,build --prefix none --target "$host" -p signet-gateway >"$work/tree.txt"
mkdir -p "$out_dir"

"$venv/bin/python" - "$work/raw.cdx.json" "$out_dir/signet.cdx.json" "$work/tree.txt" \
  Cargo.lock target/release/signet <<'PY'
import hashlib, json, sys, tomllib

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

raw, out, tree, lock, binary = sys.argv[1:]
bom = json.load(open(raw))
problems = []

top = bom.get("metadata", {}).get("component", {})
with open(binary, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
top["hashes"] = [{"alg": "SHA-256", "content": digest}]

with open(lock, "rb") as f:
    locked = {(p["name"], p["version"]) for p in tomllib.load(f)["package"]}
listed = {(c.get("name"), c.get("version")) for c in bom.get("components", [])}

if bom.get("bomFormat") != "CycloneDX" or bom.get("specVersion") != "1.5":
    problems.append("not a CycloneDX 1.5 document")
if not str(top.get("purl", "")).startswith("pkg:cargo/signet-gateway@"):
    problems.append(f"top component is not signet-gateway: {top.get('purl')}")
if not any(n == "signet-audit" for n, _ in listed):
    problems.append("signet-audit is not listed")

built = set()
for line in open(tree):
    parts = line.split()
    if len(parts) >= 2 and parts[1].startswith("v"):
        built.add((parts[0], parts[1][1:]))
built.discard(("signet-gateway", top.get("version")))
for n, v in sorted(built - listed):
    problems.append(f"built into the binary but not listed: {n} {v}")
for n, v in sorted(listed - locked):
    problems.append(f"listed but not in Cargo.lock: {n} {v}")

text = json.dumps(bom, indent=2, sort_keys=True) + "\n"
error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)
if error is not None:
    problems.append(f"schema: {error}")

if problems:
    for p in problems:
        print(f"sbom: {p}", file=sys.stderr)
    sys.exit(1)
with open(out, "w") as f:
    f.write(text)
print(f"sbom: {out}: CycloneDX 1.5, valid, {len(listed)} components "
      f"(signet-gateway {top.get('version')}, sha256 {digest[:16]}...)")
PY
