#!/usr/bin/env bash
# local-tsa.sh — a real, throwaway RFC 3161 Time-Stamp Authority built from nothing but
# `openssl` (OpenSSL 3.x) and, for the HTTP mode only, python3. For offline tests.
# Adapted from ../shared/tools/local-tsa.sh.
#
#   local-tsa.sh init DIR          build CAs and TSA certificates into DIR (created if
#                                  missing; must be empty). TSA_KEY=rsa|ec (default ec:
#                                  ECDSA P-256; rsa: RSA-2048), for the CAs and the TSA.
#   local-tsa.sh serve DIR [PORT]  RFC 3161 over HTTP on 127.0.0.1 (POST
#                                  application/timestamp-query), foreground; PORT 0 or
#                                  absent picks a free port. Prints `TSA_URL=http://...`
#                                  once listening. Stop it by its PID. CHAIN=1 embeds
#                                  ca.crt in tokens.
#   local-tsa.sh selftest          init in a temp dir, query/reply/verify with openssl,
#                                  then one HTTP round trip with curl (the original demo).
#
# Signing a request file without a server: tests/support/tsa-sign.sh.
#
# Files written by `init` (all TSA certificates share tsa.key and the subject
# "O=Local Test, CN=Local Test TSA"):
#   ca.crt ca.key            root CA "Local Test TSA Root" (CA:TRUE)
#   tsa.crt                  good TSA cert: critical EKU timeStamping only (RFC 3161 2.3)
#   tsa-eku-noncrit.crt      EKU timeStamping, not critical
#   tsa-no-eku.crt           no EKU at all
#   tsa-expired.crt          valid 2020-01-01 .. 2020-01-02 only
#   tsa-future.crt           valid 2099-01-01 .. 2100-01-01 only
#   int.crt int.key          intermediate CA (CA:TRUE) under ca.crt
#   tsa-int.crt              good TSA cert issued by int.crt
#   int-noca.crt             "intermediate" with CA:FALSE under ca.crt (must not issue)
#   tsa-int-noca.crt         TSA cert issued by int-noca.crt
#   other-ca.crt             a second root with the SAME name as ca.crt but another key
#   tsa-other.crt            TSA cert issued by other-ca.crt
#   tsa-twin.crt             same issuer, serial, subject and key as tsa.crt, other bytes
#   tsa-pss.crt              (TSA_KEY=rsa only) tsa.crt signed by the root with RSA-PSS
#   tsa.cnf                  `openssl ts -reply` config (policy 1.2.3.4.1, also accepts
#                            1.2.3.4.5.6; sha256/384/512 imprints; ESSCertIDv2 SHA-256;
#                            millisecond genTime; TSA name in TSTInfo); section
#                            tsa_ess_v1 writes the legacy SHA-1 ESSCertID instead
set -euo pipefail

die() { echo "local-tsa.sh: $*" >&2; exit 1; }
command -v openssl >/dev/null || die "openssl not found"

genkey() {
  if [ "${TSA_KEY:-ec}" = rsa ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
  else
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  fi
}

write_ext_cnf() {
  cat > ext.cnf <<'CNF'
[ v3_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ v3_int ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_noca ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, keyCertSign, digitalSignature
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_tsa ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
# RFC 3161 2.3: exactly one EKU, id-kp-timeStamping, marked critical.
extendedKeyUsage       = critical, timeStamping
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_tsa_noncrit ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = timeStamping
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ v3_tsa_noeku ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
CNF
}

# issue CSR CA_CRT CA_KEY EXT_SECTION OUT [SERIAL]
issue() {
  openssl x509 -req -in "$1" -CA "$2" -CAkey "$3" -set_serial "${6:-0x$(openssl rand -hex 8)}" \
    -sha256 -days 825 -extfile ext.cnf -extensions "$4" -out "$5" 2>/dev/null
}

# issue_dated CSR START END OUT: TSA cert from ca.crt with an explicit validity window
# (`openssl x509` of OpenSSL 3.0 has no -not_before, `openssl ca` has -startdate).
issue_dated() {
  mkdir -p ca-db/new
  : > ca-db/index.txt
  openssl rand -hex 8 > ca-db/serial
  cat > ca-db/ca.cnf <<CNF
[ ca ]
default_ca = dated
[ dated ]
database        = $PWD/ca-db/index.txt
new_certs_dir   = $PWD/ca-db/new
serial          = $PWD/ca-db/serial
default_md      = sha256
policy          = any
unique_subject  = no
email_in_dn     = no
copy_extensions = none
[ any ]
organizationName = optional
commonName       = supplied
CNF
  openssl ca -batch -config ca-db/ca.cnf -cert ca.crt -keyfile ca.key -in "$1" \
    -startdate "$2" -enddate "$3" -preserveDN -notext \
    -extfile ext.cnf -extensions v3_tsa -out "$4" 2>/dev/null
}

# tsa_section NAME ESS_ALG: one `openssl ts -reply` configuration section.
tsa_section() {
  cat <<CNF
[ $1 ]
dir                     = $PWD
serial                  = \$dir/tsaserial
crypto_device           = builtin
signer_cert             = \$dir/tsa.crt
certs                   = \$dir/nochain.pem
signer_key              = \$dir/tsa.key
signer_digest           = sha256
default_policy          = 1.2.3.4.1
other_policies          = 1.2.3.4.5.6
digests                 = sha256, sha384, sha512
accuracy                = secs:1
clock_precision_digits  = 3
ordering                = yes
tsa_name                = yes
ess_cert_id_chain       = no
ess_cert_id_alg         = $2

CNF
}

write_tsa_cnf() {
  {
    printf '[ tsa ]\ndefault_tsa = tsa_config1\n\n'
    # ESSCertIDv2 (signingCertificateV2, RFC 5816) with SHA-256: the default.
    tsa_section tsa_config1 sha256
    # Legacy ESSCertID (signingCertificate, RFC 2634) with SHA-1: `-section tsa_ess_v1`.
    tsa_section tsa_ess_v1 sha1
  } > tsa.cnf
  echo 01 > tsaserial
  : > nochain.pem
}

cmd_init() {
  local dir="$1"
  mkdir -p "$dir"
  [ -z "$(ls -A "$dir")" ] || die "init: $dir is not empty"
  cd "$dir"
  write_ext_cnf
  genkey ca.key; genkey tsa.key; genkey int.key; genkey other-ca.key
  openssl req -new -x509 -key ca.key -sha256 -days 3650 -subj "/O=Local Test/CN=Local Test TSA Root" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.crt
  openssl req -new -x509 -key other-ca.key -sha256 -days 3650 -subj "/O=Local Test/CN=Local Test TSA Root" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out other-ca.crt
  openssl req -new -key tsa.key -subj "/O=Local Test/CN=Local Test TSA" -out tsa.csr
  openssl req -new -key int.key -subj "/O=Local Test/CN=Local Test TSA Intermediate" -out int.csr

  issue tsa.csr ca.crt ca.key v3_tsa tsa.crt
  issue tsa.csr ca.crt ca.key v3_tsa_noncrit tsa-eku-noncrit.crt
  issue tsa.csr ca.crt ca.key v3_tsa_noeku tsa-no-eku.crt
  issue_dated tsa.csr 20200101000000Z 20200102000000Z tsa-expired.crt
  issue_dated tsa.csr 20990101000000Z 21000101000000Z tsa-future.crt
  issue int.csr ca.crt ca.key v3_int int.crt
  issue tsa.csr int.crt int.key v3_tsa tsa-int.crt
  issue int.csr ca.crt ca.key v3_noca int-noca.crt
  issue tsa.csr int-noca.crt int.key v3_tsa tsa-int-noca.crt
  issue tsa.csr other-ca.crt other-ca.key v3_tsa tsa-other.crt
  # Same issuer, serial, subject and key as tsa.crt, different bytes (validity).
  local serial; serial="$(openssl x509 -in tsa.crt -noout -serial | cut -d= -f2)"
  openssl x509 -req -in tsa.csr -CA ca.crt -CAkey ca.key -set_serial "0x$serial" -sha256 -days 824 \
    -extfile ext.cnf -extensions v3_tsa -out tsa-twin.crt 2>/dev/null
  if [ "${TSA_KEY:-ec}" = rsa ]; then
    # Certificate signature with RSA-PSS (SHA-256, MGF1-SHA-256, salt 32).
    openssl x509 -req -in tsa.csr -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
      -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -days 825 \
      -extfile ext.cnf -extensions v3_tsa -out tsa-pss.crt 2>/dev/null
  fi

  openssl verify -CAfile ca.crt -purpose timestampsign tsa.crt >/dev/null
  openssl verify -CAfile ca.crt -untrusted int.crt -purpose timestampsign tsa-int.crt >/dev/null
  write_tsa_cnf
}

cmd_serve() {
  local dir="$1" port="${2:-0}"
  [ -f "$dir/tsa.cnf" ] || die "serve: run init first"
  command -v python3 >/dev/null || die "python3 not found"
  exec python3 - "$dir" "$port" "${CHAIN:-0}" <<'PY'
import http.server, os, subprocess, sys, tempfile, threading
W, PORT, CHAIN = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
# openssl ts -reply read-modify-writes the serial file: one reply at a time.
LOCK = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/timestamp-query":
            self.send_error(415, "need application/timestamp-query"); return
        n = int(self.headers.get("Content-Length", "0"))
        if n <= 0 or n > 65536:
            self.send_error(400, "bad length"); return
        req = self.rfile.read(n)
        with tempfile.TemporaryDirectory() as d:
            q, r = os.path.join(d, "q.tsq"), os.path.join(d, "r.tsr")
            open(q, "wb").write(req)
            with LOCK:
                p = subprocess.run(["openssl", "ts", "-reply", "-config", f"{W}/tsa.cnf",
                                    "-queryfile", q, "-signer", f"{W}/tsa.crt",
                                    "-inkey", f"{W}/tsa.key", "-out", r]
                                   + (["-chain", f"{W}/ca.crt"] if CHAIN else []),
                                   capture_output=True)
            if p.returncode != 0 or not os.path.exists(r):
                self.send_error(500, "openssl ts -reply failed"); return
            body = open(r, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H)
print(f"TSA_URL=http://127.0.0.1:{srv.server_address[1]}/", flush=True)
srv.serve_forever()
PY
}

SRV_PID=""
SELF_W=""
selftest_cleanup() {
  if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; fi
  if [ -n "$SELF_W" ]; then rm -rf "$SELF_W"; fi
}

cmd_selftest() {
  SELF_W="$(mktemp -d "${TMPDIR:-/tmp}/local-tsa.XXXXXX")"
  trap selftest_cleanup EXIT
  local w="$SELF_W"
  ( cmd_init "$w" )
  cd "$w"
  printf '{"seq":1,"prev":"00","entry":"hello audit log"}\n' > data.txt
  openssl ts -query -data data.txt -sha256 -cert -out q.tsq 2>/dev/null
  openssl ts -reply -config tsa.cnf -queryfile q.tsq -out r.tsr 2>/dev/null
  openssl ts -verify -in r.tsr -queryfile q.tsq -CAfile ca.crt 2>/dev/null
  printf 'tampered\n' > bad.txt
  if openssl ts -verify -in r.tsr -data bad.txt -CAfile ca.crt >/dev/null 2>&1; then
    die "tampered data verified"
  fi
  cmd_serve "$w" 0 > url.txt &
  SRV_PID=$!
  for _ in $(seq 50); do grep -q TSA_URL url.txt 2>/dev/null && break; sleep 0.1; done
  local url; url="$(sed -n 's/^TSA_URL=//p' url.txt)"
  [ -n "$url" ] || die "server did not start"
  curl -sS --fail -H 'Content-Type: application/timestamp-query' --data-binary @q.tsq -o r2.tsr "$url"
  openssl ts -verify -in r2.tsr -queryfile q.tsq -CAfile ca.crt 2>/dev/null
  echo "ALL OK"
}

case "${1:-}" in
  init)     [ $# -eq 2 ] || die "usage: local-tsa.sh init DIR"; cmd_init "$2" ;;
  serve)    [ $# -ge 2 ] || die "usage: local-tsa.sh serve DIR [PORT]"; cmd_serve "$2" "${3:-0}" ;;
  selftest) cmd_selftest ;;
  *)        die "usage: local-tsa.sh init DIR | serve DIR [PORT] | selftest" ;;
esac
