#!/usr/bin/env bash
# tsa-sign.sh — sign RFC 3161 requests offline with a TSA built by `local-tsa.sh init`,
# so tests need no server.
#
#   tsa-sign.sh reply DIR REQ.tsq OUT.tsr [SIGNER_CERT [CHAIN_PEM]]
#       `openssl ts -reply`: a TimeStampResp (DER) for the request, signed with
#       DIR/tsa.key under SIGNER_CERT (default DIR/tsa.crt); CHAIN_PEM certificates are
#       embedded in the token besides the signer's. A request the TSA refuses (unknown
#       policy, digest not allowed) yields a `rejection` response, as a real TSA would.
#       openssl refuses signer certificates without a critical timeStamping EKU.
#       TSA_SECTION=tsa_ess_v1 writes the legacy SHA-1 ESSCertID (signingCertificate).
#   tsa-sign.sh cms DIR TSTINFO.der OUT.tst SIGNER_CERT
#       A bare TimeStampToken: CMS SignedData over the given TSTInfo (eContentType
#       id-ct-TSTInfo) with CAdES signingCertificateV2, signed with DIR/tsa.key. Unlike
#       `openssl ts -reply` this performs no check on SIGNER_CERT, so negative tests can
#       produce tokens signed under certificates a TSA must not use. CMS_PSS=1 signs
#       with RSA-PSS (SHA-256, salt 32) instead of PKCS#1 v1.5 (RSA keys only).
set -euo pipefail

die() { echo "tsa-sign.sh: $*" >&2; exit 1; }
command -v openssl >/dev/null || die "openssl not found"
command -v flock >/dev/null || die "flock (util-linux) not found"

case "${1:-}" in
  reply)
    [ $# -ge 4 ] && [ $# -le 6 ] || die "usage: tsa-sign.sh reply DIR REQ OUT [SIGNER_CERT [CHAIN_PEM]]"
    dir="$2"; signer="${5:-$2/tsa.crt}"
    chain=(); [ $# -eq 6 ] && chain=(-chain "$6")
    section=(); [ -n "${TSA_SECTION:-}" ] && section=(-section "$TSA_SECTION")
    # openssl ts -reply read-modify-writes DIR/tsaserial: one reply at a time per TSA.
    exec 9>"$dir/.reply.lock"
    flock 9
    openssl ts -reply -config "$dir/tsa.cnf" ${section[@]+"${section[@]}"} -queryfile "$3" \
      -signer "$signer" -inkey "$dir/tsa.key" ${chain[@]+"${chain[@]}"} -out "$4" 2>/dev/null
    ;;
  cms)
    [ $# -eq 5 ] || die "usage: tsa-sign.sh cms DIR TSTINFO OUT SIGNER_CERT"
    pss=(); [ "${CMS_PSS:-0}" = 1 ] && pss=(-keyopt rsa_padding_mode:pss -keyopt rsa_pss_saltlen:digest)
    openssl cms -sign -binary -nodetach -in "$3" -econtent_type 1.2.840.113549.1.9.16.1.4 \
      -signer "$5" -inkey "$2/tsa.key" -md sha256 -cades -nosmimecap ${pss[@]+"${pss[@]}"} \
      -outform DER -out "$4"
    ;;
  *) die "usage: tsa-sign.sh reply|cms ..." ;;
esac
