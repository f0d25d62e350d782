//! Certificate parsing, TSA path building (rustls-webpki) and full RFC 3161 token
//! verification never panic.
//!
//! The input is tried, every run, as:
//! - a TimeStampResp or bare token, fully verified against the signet 0.1 fixture root
//!   for the fixture receipt's imprint (the `seed-receipt` seed from
//!   `scripts/fuzz-smoke.sh` verifies, so mutations start from a token that goes all the
//!   way through); when it parses, its own certificates also go through the TSA purpose
//!   and path checks at its genTime, which the signature and ESS checks would otherwise
//!   keep a mutated certificate from reaching;
//! - a certificate: parsed, its extensions read, then path-checked as the leaf (to the
//!   fixture root), as an intermediate under the fixture TSA certificate, and as a trust
//!   root for the fixture TSA certificate (the `seed-tsa.crt` / `seed-tsa-ca.crt` seeds
//!   pass these).
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_audit::tsp::chain::{TrustRoots, check_path, check_tsa_purpose};
use signet_audit::tsp::pem;
use signet_audit::tsp::x509::{Certificate, name_to_string};
use signet_audit::tsp::{Time, parse_token_or_response, verify_parsed};
use x509_cert::ext::pkix::name::GeneralName;

const ROOT_PEM: &[u8] = include_bytes!("../../../../tests/fixtures/signet-0.1/tsa-ca.crt");
const TSA_PEM: &[u8] = include_bytes!("../../../../tests/fixtures/signet-0.1/tsa.crt");
/// The imprint of the fixture receipt (tests/fixtures/signet-0.1/audit-anchored.jsonl).
const DIGEST: [u8; 32] = [
    0xf3, 0x67, 0x01, 0x89, 0xb7, 0x41, 0x91, 0x18, 0xe1, 0x77, 0xd1, 0xaf, 0xed, 0x03, 0xe5, 0x3f,
    0x8b, 0x98, 0x8d, 0xf5, 0xae, 0x90, 0x02, 0xb8, 0x23, 0x94, 0x14, 0xb9, 0xbe, 0x85, 0xc7, 0x8a,
];
/// genTime of the fixture receipt (2026-11-21T21:03:15Z), when the fixture chain is valid.
const GEN_TIME: i64 = 1_795_294_995;

struct Fixture {
    roots: TrustRoots,
    tsa_der: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        roots: TrustRoots::from_pem(ROOT_PEM).expect("fixture root"),
        tsa_der: pem::certificates(TSA_PEM)
            .expect("fixture TSA certificate")
            .remove(0),
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some(at) = Time::from_unix(GEN_TIME, 0) else {
        return;
    };
    let tsa = Certificate::parse(&f.tsa_der).expect("fixture TSA certificate parses");

    // As a token or response: the full verification, then its certificates' paths.
    if let Ok(token) = parse_token_or_response(data) {
        let _ = verify_parsed(&token, &DIGEST, None, &f.roots);
        // The token's own imprint and nonce, so a token for another digest or with a
        // nonce also gets past the imprint and nonce checks.
        let own_imprint = token.tst_info.imprint != DIGEST;
        if own_imprint || token.tst_info.nonce.is_some() {
            let _ = verify_parsed(
                &token,
                token.tst_info.imprint,
                token.tst_info.nonce,
                &f.roots,
            );
        }
        let pool: Vec<Certificate<'_>> = token
            .certificates
            .iter()
            .filter_map(|c| Certificate::parse(c).ok())
            .collect();
        for leaf in &pool {
            let _ = check_tsa_purpose(leaf);
            // Not its subject (unless self-issued), so the subjectAltName is read.
            let _ = leaf.has_name(&GeneralName::DirectoryName(leaf.issuer().clone()));
            let _ = check_path(leaf, &pool, &f.roots, token.tst_info.gen_time);
        }
    }

    // As a certificate.
    if let Ok(cert) = Certificate::parse(data) {
        let _ = (
            cert.subject_string(),
            name_to_string(cert.issuer()),
            cert.ext_key_usage(),
            cert.key_usage(),
            cert.subject_key_id(),
            cert.not_before().to_string(),
            cert.not_after().to_string(),
        );
        let _ = check_tsa_purpose(&cert);
        // The leaf, to the fixture root.
        let _ = check_path(&cert, std::slice::from_ref(&cert), &f.roots, at);
        // An intermediate between the fixture TSA certificate and the fixture root.
        let _ = check_path(&tsa, std::slice::from_ref(&cert), &f.roots, at);
    }

    // As a trust root, for the fixture TSA certificate.
    if let Ok(roots) = TrustRoots::from_der(vec![data.to_vec()]) {
        let _ = format!("{roots:?}");
        let _ = check_path(&tsa, &[], &roots, at);
    }
});
