//! DSSE envelopes and standalone receipts: round trips, the PAE known answer, and a
//! tamper table in which every corruption fails with the expected kind.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use signet_audit::dsse::{
    DsseError, DsseError::Line, Envelope, PAYLOAD_TYPE_IN_TOTO, ReceiptStatement, Signature,
    make_receipt, open_receipt, pae, sign_envelope, verify_envelope,
};
use signet_audit::json::ParseError;
use signet_audit::line::LineError;
use signet_audit::util::to_hex;

const LINE: &str = r#"{"approval_chain":["human:alice@example.com"],"check_name":"pipeline.complete","decision":"allow","entry_id":"3f0c6a52-8d4e-4b7a-9c21-5e8f0a1b2c3d","hmac":"b9d8b2989c6e7262b24820c9e1d8547d48b8dae643e00d2460357c5f8d84828f","metadata":{"_anchor":{"backend":"none"},"_seq":0,"_signing_key_id":"k1","finish_reason":"stop","method":"POST","path":"/v1/chat/completions","response_fingerprint":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","status":200,"upstream_latency_us":48211},"owner_id":"alice@example.com","owner_type":"human","prev_hmac":"","reason":"request completed","request_fingerprint":"sha256:2b0e41b0b88bcdb6961aabe178a3a013e9636b5593e9e8a9ee7afd34e3c7dfff","ts_ns":1795294946570563090}"#;
const ENTRY_ID: &str = "3f0c6a52-8d4e-4b7a-9c21-5e8f0a1b2c3d";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[0x24; 32])
}

fn minimal() -> ReceiptStatement {
    ReceiptStatement {
        entry_line: LINE.to_owned(),
        origin: "gateway.example/log".to_owned(),
        checkpoint: None,
        tlog_proof: None,
        rfc3161_token: None,
        receipt_key_id: "rk".to_owned(),
    }
}

fn full() -> ReceiptStatement {
    ReceiptStatement {
        checkpoint: Some("gateway.example/log\n1\nAAAA\n\n— gateway.example/log x\n".into()),
        tlog_proof: Some("c2sp.org/tlog-proof@v1\nindex 0\n".into()),
        rfc3161_token: Some(vec![0x30, 0x82, 0x00, 0xff, 0x00]),
        ..minimal()
    }
}

fn statement_text() -> String {
    String::from_utf8(minimal().to_json_bytes().unwrap()).unwrap()
}

#[test]
fn pae_known_answers() {
    // Counted by hand: "http://example.com/HelloWorld" is 7 + 11 + 11 = 29 bytes.
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
    );
    assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    // LEN counts bytes, not characters: "é" is two bytes in UTF-8.
    assert_eq!(pae("é", b"\x00\n"), b"DSSEv1 2 \xc3\xa9 2 \x00\n".to_vec());
}

#[test]
fn sign_verify_and_json_round_trip() {
    let env = sign_envelope("application/x-test", b"body \x00\xff", "k1", &key());
    let vk = key().verifying_key();
    assert_eq!(
        verify_envelope(&env, &[("k1", &vk)]).unwrap(),
        b"body \x00\xff"
    );
    assert_eq!(
        verify_envelope(&env, &[("", &vk)]).unwrap(),
        b"body \x00\xff"
    );
    let json = env.to_json();
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(text.starts_with(r#"{"payload":"Ym9keSAA/w==","payloadType":"application/x-test","signatures":[{"keyid":"k1","sig":""#));
    let back = Envelope::from_json(&json).unwrap();
    assert_eq!(back, env);
    assert_eq!(back.to_json(), json);
    // The signature is Ed25519 over the PAE bytes.
    let sig = ed25519_dalek::Signature::from_slice(&env.signatures[0].sig).unwrap();
    vk.verify_strict(&pae("application/x-test", b"body \x00\xff"), &sig)
        .unwrap();
}

#[test]
fn from_json_accepts_url_safe_base64_and_absent_keyid() {
    let env = sign_envelope("t", b"\xfb\xff", "", &key());
    let sig = URL_SAFE.encode(&env.signatures[0].sig);
    let text =
        format!(r#"{{"payload":"-_8=","payloadType":"t","signatures":[{{"sig":"{sig}"}}]}}"#);
    let back = Envelope::from_json(text.as_bytes()).unwrap();
    assert_eq!(back, env);
    assert_eq!(back.signatures[0].keyid, "");
    let vk = key().verifying_key();
    assert!(verify_envelope(&back, &[("any-id", &vk)]).is_ok());
}

#[test]
fn any_listed_key_and_any_signature_may_verify() {
    let mut env = sign_envelope("t", b"x", "other", &other_key());
    let good = sign_envelope("t", b"x", "k1", &key()).signatures.remove(0);
    env.signatures.insert(
        0,
        Signature {
            keyid: "junk".into(),
            sig: vec![1, 2, 3],
        },
    );
    env.signatures.push(good);
    let (vk, ovk) = (key().verifying_key(), other_key().verifying_key());
    assert!(verify_envelope(&env, &[("nobody", &ovk), ("k1", &vk)]).is_ok());
    assert!(verify_envelope(&env, &[("other", &ovk)]).is_ok());
}

#[test]
fn receipt_round_trips_with_and_without_the_optional_fields() {
    let vk = key().verifying_key();
    for stmt in [minimal(), full()] {
        let env = make_receipt(&stmt, "rk", &key()).unwrap();
        assert_eq!(env.payload_type, PAYLOAD_TYPE_IN_TOTO);
        let env = Envelope::from_json(&env.to_json()).unwrap();
        assert_eq!(open_receipt(&env, &[("rk", &vk)]).unwrap(), stmt);
        assert_eq!(open_receipt(&env, &[("", &vk)]).unwrap(), stmt);
    }
}

#[test]
fn statement_has_the_in_toto_shape() {
    let digest = to_hex(&Sha256::digest(LINE.as_bytes()));
    let mut entry = Vec::new();
    signet_audit::json::write_string(LINE, &mut entry);
    let entry = String::from_utf8(entry).unwrap();
    let expected = format!(
        concat!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","predicate":{{"entry":{entry},"#,
            r#""log_origin":"gateway.example/log","receipt_key_id":"rk"}},"#,
            r#""predicateType":"https://signet-gateway.dev/receipt/v1","#,
            r#""subject":[{{"digest":{{"sha256":"{digest}"}},"name":"signet-entry:{id}"}}]}}"#
        ),
        entry = entry,
        digest = digest,
        id = ENTRY_ID
    );
    assert_eq!(statement_text(), expected);
    let token = STANDARD.encode([0x30, 0x82, 0x00, 0xff, 0x00]);
    let text = String::from_utf8(full().to_json_bytes().unwrap()).unwrap();
    assert!(
        text.contains(&format!(r#""rfc3161_token":"{token}""#)),
        "{text}"
    );
}

#[test]
fn envelope_tamper_table() {
    let vk = key().verifying_key();
    let good = make_receipt(&minimal(), "rk", &key()).unwrap();
    assert!(open_receipt(&good, &[("rk", &vk)]).is_ok());
    type Tamper = fn(&mut Envelope);
    use DsseError::{BadSignature, NoSignatures};
    #[rustfmt::skip]
    let cases: &[(&str, Tamper, DsseError)] = &[
        ("payload byte", |e| e.payload[10] ^= 1, BadSignature),
        ("payload appended", |e| e.payload.push(b' '), BadSignature),
        ("payload type", |e| e.payload_type.push('x'), BadSignature),
        ("sig byte", |e| e.signatures[0].sig[5] ^= 0x80, BadSignature),
        ("sig truncated", |e| e.signatures[0].sig.truncate(63), BadSignature),
        ("keyid mismatch", |e| e.signatures[0].keyid = "rk2".into(), BadSignature),
        ("no signatures", |e| e.signatures.clear(), NoSignatures),
        ("other key", |e| *e = make_receipt(&minimal(), "rk", &other_key()).unwrap(), BadSignature),
    ];
    for (label, tamper, want) in cases {
        let mut env = good.clone();
        tamper(&mut env);
        assert_eq!(
            open_receipt(&env, &[("rk", &vk)]).err().as_ref(),
            Some(want),
            "{label}"
        );
        let again = Envelope::from_json(&env.to_json());
        if let Ok(again) = again {
            assert_eq!(
                open_receipt(&again, &[("rk", &vk)]).err().as_ref(),
                Some(want),
                "{label}"
            );
        }
    }
    let ovk = other_key().verifying_key();
    assert_eq!(
        open_receipt(&good, &[("rk", &ovk)]),
        Err(DsseError::BadSignature)
    );
    assert_eq!(open_receipt(&good, &[]), Err(DsseError::NoKeys));
}

const JSON: DsseError = DsseError::Json(ParseError { at: 0, what: "" });
const STATEMENT: DsseError = DsseError::Statement("");

/// Equal, or the same variant where the detail varies (JSON position, reasons).
fn same(got: &DsseError, want: &DsseError) -> bool {
    use std::mem::discriminant as d;
    match want {
        DsseError::Json(_) | DsseError::Statement(_) | DsseError::Line(_) => d(got) == d(want),
        _ => got == want,
    }
}

#[test]
fn envelope_json_tamper_table() {
    use DsseError::{Base64, Missing, Type, Unexpected};
    let good = String::from_utf8(sign_envelope("t", b"x", "k1", &key()).to_json()).unwrap();
    let sig = good.split(r#""sig":""#).nth(1).unwrap();
    let sig = sig.split('"').next().unwrap().to_owned();
    let keyid = r#""keyid":"k1""#;
    let no_sig = format!("{{{keyid},\"sig\":\"{sig}\"}}");
    let object = good.replace("[{", r#"{"a":[{"#).replace("}]", "}]}");
    #[rustfmt::skip]
    let cases = [
        ("duplicate field", good.replacen('{', r#"{"payload":"eA==","#, 1), JSON),
        ("extra field", good.replacen('{', r#"{"extra":1,"#, 1), Unexpected("envelope", "extra".into())),
        ("extra sig field", good.replace(keyid, r#""x":"","keyid":"k1""#), Unexpected("signature", "x".into())),
        ("duplicate keyid", good.replace(keyid, &format!("{keyid},{keyid}")), JSON),
        ("missing type", good.replace(r#""payloadType":"t","#, ""), Missing("envelope", "payloadType")),
        ("missing sig", good.replace(&format!(r#","sig":"{sig}""#), ""), Missing("signature", "sig")),
        ("payload padding", good.replace(r#""eA==""#, r#""eA=""#), Base64("payload")),
        ("sig not base64", good.replace(&sig, &format!("{sig}!")), Base64("sig")),
        ("sig two alphabets", good.replace(&sig, &format!("-/{}", &sig[2..])), Base64("sig")),
        ("no signatures", good.replace(&no_sig, ""), DsseError::NoSignatures),
        ("signatures object", object, Type("signatures")),
        ("type not string", good.replace(r#""payloadType":"t""#, r#""payloadType":1"#), Type("payloadType")),
        ("trailing data", format!("{good} {{}}"), JSON),
        ("not an object", format!("[{good}]"), Type("envelope")),
    ];
    assert!(Envelope::from_json(good.as_bytes()).is_ok());
    for (label, text, want) in &cases {
        assert_ne!(text, &good, "{label}: the corruption did not apply");
        let err = Envelope::from_json(text.as_bytes()).expect_err(label);
        assert!(same(&err, want), "{label}: got {err:?}");
    }
    let many = format!(
        r#"{{"payload":"","payloadType":"t","signatures":[{}]}}"#,
        vec![r#"{"sig":""}"#; 17].join(",")
    );
    assert_eq!(
        Envelope::from_json(many.as_bytes()),
        Err(DsseError::TooManySignatures)
    );
}

#[test]
fn statement_tamper_table() {
    use DsseError::{Base64, DigestMismatch, EntryIdMismatch, KeyIdMismatch, Missing, Unexpected};
    // Each statement is re-signed with the right key: only the statement checks can fail.
    let vk = key().verifying_key();
    let good = statement_text();
    let digest = to_hex(&Sha256::digest(LINE.as_bytes()));
    let open = |payload_type: &str, text: &str| {
        let env = sign_envelope(payload_type, text.as_bytes(), "rk", &key());
        open_receipt(&env, &[("rk", &vk)])
    };
    assert!(open(PAYLOAD_TYPE_IN_TOTO, &good).is_ok());
    let other_digest = to_hex(&Sha256::digest(format!("{LINE}\n").as_bytes()));
    let origin = r#""log_origin""#;
    let before_origin = |s: &str| good.replace(origin, &format!("{s},{origin}"));
    let line_end = r#"1795294946570563090}""#;
    let not_an_entry = Line(LineError::Missing(""));
    #[rustfmt::skip]
    let cases = [
        ("subject digest", good.replace(&digest, &other_digest), DigestMismatch),
        ("digest uppercase", good.replace(&digest, &digest.to_uppercase()), DigestMismatch),
        ("entry id", good.replace("signet-entry:3f0c", "signet-entry:4f0c"), EntryIdMismatch),
        ("subject prefix", good.replace("signet-entry:", "entry:"), EntryIdMismatch),
        ("extra field", before_origin(r#""extra":"""#), Unexpected("predicate", "extra".into())),
        ("duplicate field", before_origin(r#""log_origin":"a""#), JSON),
        ("no key id", good.replace(r#","receipt_key_id":"rk""#, ""), Missing("predicate", "receipt_key_id")),
        ("two subjects", good.replace(r#""subject":[{"#, r#""subject":[{},{"#), STATEMENT),
        ("predicate type", good.replace("receipt/v1", "receipt/v2"), STATEMENT),
        ("statement type", good.replace("Statement/v1", "Statement/v0.1"), STATEMENT),
        ("proof alone", before_origin(r#""tlog_proof":"p""#), STATEMENT),
        ("token base64", before_origin(r#""checkpoint":"c","rfc3161_token":"%""#), Base64("rfc3161_token")),
        ("entry newline", good.replace(line_end, r#"1795294946570563090}\n""#), STATEMENT),
        ("not an entry", good.replace(r#""entry":"{"#, r#""entry":"{\"x\":1,"#), not_an_entry),
        ("receipt key id", good.replace(r#""rk""#, r#""rk2""#), KeyIdMismatch),
    ];
    for (label, text, want) in &cases {
        assert_ne!(text, &good, "{label}: the corruption did not apply");
        let err = open(PAYLOAD_TYPE_IN_TOTO, text).expect_err(label);
        assert!(same(&err, want), "{label}: got {err:?}");
    }
    assert_eq!(open("application/json", &good), Err(DsseError::PayloadType));
}

#[test]
fn invalid_statements_are_not_signed() {
    let mut s = minimal();
    s.tlog_proof = Some("p".into());
    assert!(matches!(
        make_receipt(&s, "rk", &key()),
        Err(DsseError::Statement(_))
    ));
    let mut s = minimal();
    s.entry_line = format!("{LINE}\n");
    assert!(matches!(s.to_json_bytes(), Err(DsseError::Statement(_))));
    let mut s = minimal();
    s.entry_line = "{}".into();
    assert!(matches!(s.to_json_bytes(), Err(DsseError::Line(_))));
}
