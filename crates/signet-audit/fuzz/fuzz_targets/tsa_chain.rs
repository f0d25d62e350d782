//! Certificate parsing, TSA path building (rustls-webpki) and full RFC 3161 token
//! verification never panic: the input is tried as a token or response against the
//! signet 0.1 fixture root, as a certificate, as a trust root, and as a leaf to chain.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signet_audit::tsp::chain::{TrustRoots, check_path, check_tsa_purpose};
use signet_audit::tsp::x509::Certificate;
use signet_audit::tsp::{Time, verify_token};

const ROOT_PEM: &[u8] = include_bytes!("../../../../tests/fixtures/signet-0.1/tsa-ca.crt");
/// The imprint of the fixture receipt (tests/fixtures/signet-0.1/audit-anchored.jsonl).
const DIGEST: [u8; 32] = [
    0xf3, 0x67, 0x01, 0x89, 0xb7, 0x41, 0x91, 0x18, 0xe1, 0x77, 0xd1, 0xaf, 0xed, 0x03, 0xe5,
    0x3f, 0x8b, 0x98, 0x8d, 0xf5, 0xae, 0x90, 0x02, 0xb8, 0x23, 0x94, 0x14, 0xb9, 0xbe, 0x85,
    0xc7, 0x8a,
];

fuzz_target!(|data: &[u8]| {
    let Ok(roots) = TrustRoots::from_pem(ROOT_PEM) else {
        return;
    };
    let _ = verify_token(data, &DIGEST, None, &roots);
    let _ = verify_token(data, &DIGEST, Some(&[1, 2, 3]), &roots);
    if let Ok(cert) = Certificate::parse(data) {
        let _ = (cert.subject_string(), cert.ext_key_usage(), cert.subject_key_id());
        let _ = check_tsa_purpose(&cert);
        if let Some(at) = Time::from_unix(1_795_294_995, 0) {
            let _ = check_path(&cert, std::slice::from_ref(&cert), &roots, at);
        }
    }
    let _ = TrustRoots::from_der(vec![data.to_vec()]);
});
