//! TSA certificate paths through `rustls-webpki`, with chains made by rcgen and tokens
//! signed by `openssl cms` over a real TSTInfo from the local OpenSSL TSA: a P-384
//! root -> intermediate without EKU -> TSA is accepted; a TSA certificate with
//! serverAuth instead of timeStamping, an intermediate whose EKU excludes
//! timeStamping, and a root expired at genTime are refused with the named check.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod tsp_support;

use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, DnValue, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P384_SHA384, date_time_ymd,
};
use signet_audit::tsp::{TrustRoots, parse_response, request, verify_token};
use tsp_support::{digest_of, run, tsa};

const TIME_STAMPING: [u8; 12] = [
    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08,
];
const SERVER_AUTH: [u8; 12] = [
    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01,
];

fn params(cn: &str, ca: bool, eku: Option<[u8; 12]>) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    if cn == "Local Test TSA" {
        // The name the local TSA writes in TSTInfo's `tsa` field.
        p.distinguished_name.push(
            DnType::OrganizationName,
            DnValue::Utf8String("Local Test".into()),
        );
    }
    p.distinguished_name
        .push(DnType::CommonName, DnValue::Utf8String(cn.into()));
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    } else {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    }
    if let Some(content) = eku {
        // RFC 3161 2.3: the TSA's EKU is critical.
        let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 37], content.to_vec());
        ext.set_criticality(true);
        p.custom_extensions.push(ext);
    }
    p
}

fn key() -> KeyPair {
    KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("p-384 key")
}

/// A chain root -> intermediate -> TSA; returns (root DER, token) for `tst_info`.
fn token(
    tst_info: &[u8],
    root: CertificateParams,
    int_eku: Option<[u8; 12]>,
    tsa_eku: [u8; 12],
) -> (Vec<u8>, Vec<u8>) {
    let (root_key, int_key, tsa_key) = (key(), key(), key());
    let root_cert = root.self_signed(&root_key).expect("root");
    let root_issuer = Issuer::new(root, &root_key);
    let int_params = params("Chain Test Intermediate", true, int_eku);
    let int_cert = int_params
        .signed_by(&int_key, &root_issuer)
        .expect("intermediate");
    let int_issuer = Issuer::new(int_params, &int_key);
    let tsa_cert = params("Local Test TSA", false, Some(tsa_eku))
        .signed_by(&tsa_key, &int_issuer)
        .expect("tsa");
    let tmp = tempfile::tempdir().expect("tmp");
    let f = |n: &str| tmp.path().join(n);
    std::fs::write(f("tst.der"), tst_info).expect("tst");
    std::fs::write(f("tsa.pem"), tsa_cert.pem()).expect("tsa");
    std::fs::write(f("tsa.key"), tsa_key.serialize_pem()).expect("key");
    std::fs::write(f("int.pem"), int_cert.pem()).expect("int");
    run(Command::new("openssl")
        .args(["cms", "-sign", "-binary", "-nodetach", "-econtent_type"])
        .arg("1.2.840.113549.1.9.16.1.4")
        .args([
            "-md",
            "sha384",
            "-cades",
            "-nosmimecap",
            "-outform",
            "DER",
            "-in",
        ])
        .arg(f("tst.der"))
        .arg("-signer")
        .arg(f("tsa.pem"))
        .arg("-inkey")
        .arg(f("tsa.key"))
        .arg("-certfile")
        .arg(f("int.pem"))
        .arg("-out")
        .arg(f("t.tst")));
    let token = std::fs::read(f("t.tst")).expect("token");
    (root_cert.der().to_vec(), token)
}

/// The TSTInfo without its `tsa` GeneralName (it names the local TSA's certificate).
fn without_tsa_name(tst: &[u8]) -> Vec<u8> {
    use der::{Decode, Encode, Reader, SliceReader, asn1::AnyRef};
    let seq = AnyRef::from_der(tst).expect("tstinfo");
    let mut r = SliceReader::new(seq.value()).expect("reader");
    let mut kept = Vec::new();
    while !r.is_finished() {
        let field = r.tlv_bytes().expect("field");
        if field[0] != 0xa0 {
            kept.extend_from_slice(field);
        }
    }
    AnyRef::new(der::Tag::Sequence, &kept)
        .and_then(|a| a.to_der())
        .expect("der")
}

#[test]
fn p384_chains_and_what_webpki_refuses() {
    let t = tsa("ec");
    let digest = digest_of(b"p-384 chain");
    let (req, nonce) = request(&digest);
    let resp = t.reply(&req, "tsa.crt", None, None);
    let tst = without_tsa_name(parse_response(&resp).expect("parse").token.tst_info_der);
    let n = Some(nonce.as_bytes());
    let verdict = |(root, token): (Vec<u8>, Vec<u8>)| {
        let roots = TrustRoots::from_der(vec![root]).expect("roots");
        verify_token(&token, &digest, n, &roots)
            .map(|v| v.tsa_subject)
            .map_err(|e| {
                eprintln!("{e}");
                e.kind()
            })
    };
    let root = || params("Chain Test Root", true, None);

    // P-384 root -> intermediate without EKU -> TSA: accepted.
    let ok = verdict(token(&tst, root(), None, TIME_STAMPING));
    assert!(
        ok.as_deref().is_ok_and(|s| s.contains("CN=Local Test TSA")),
        "{ok:?}"
    );
    // An intermediate with an EKU that excludes timeStamping constrains its TSA.
    let int_server = verdict(token(&tst, root(), Some(SERVER_AUTH), TIME_STAMPING));
    assert_eq!(int_server, Err("eku"));
    // A TSA certificate for serverAuth instead of timeStamping.
    let tsa_server = verdict(token(&tst, root(), None, SERVER_AUTH));
    assert_eq!(tsa_server, Err("eku"));
    // A root that expired before genTime (webpki does not look at the root's validity).
    let mut expired = root();
    expired.not_before = date_time_ymd(2020, 1, 1);
    expired.not_after = date_time_ymd(2021, 1, 1);
    let e = verdict(token(&tst, expired, None, TIME_STAMPING));
    assert_eq!(e, Err("validity"));
}
