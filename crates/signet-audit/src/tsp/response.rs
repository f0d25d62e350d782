//! Parsing RFC 3161 TimeStampResp and TimeStampToken (CMS SignedData over TSTInfo).
//!
//! Guarantees:
//! - [`parse_response`] returns a token only for PKIStatus granted (0) or
//!   grantedWithMods (1); any other status is [`TspError::Status`] with the status,
//!   the failInfo bit names and the statusString text.
//! - The token is kept as the TSA's **original bytes** ([`Token::der`]); every other
//!   field is a slice of them, so nothing is re-encoded (SET OF order included).
//! - The token must be id-signedData whose eContentType is id-ct-TSTInfo with the
//!   TSTInfo present (parsed by `tst_info.rs`), DER throughout. Nothing here checks a
//!   signature: that is `verify.rs`.

use super::TspError;
use super::crypto::AlgId;
use super::der::{DerError, Reader, Tlv, parse_single, tag};
use super::oid;
use super::tst_info::{TstInfo, parse_tst_info};

/// PKIStatus (RFC 3161 section 2.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkiStatus {
    Granted,
    GrantedWithMods,
    Rejection,
    Waiting,
    RevocationWarning,
    RevocationNotification,
    Unknown(u64),
}

impl PkiStatus {
    fn from_code(n: u64) -> PkiStatus {
        match n {
            0 => PkiStatus::Granted,
            1 => PkiStatus::GrantedWithMods,
            2 => PkiStatus::Rejection,
            3 => PkiStatus::Waiting,
            4 => PkiStatus::RevocationWarning,
            5 => PkiStatus::RevocationNotification,
            n => PkiStatus::Unknown(n),
        }
    }

    pub fn is_granted(&self) -> bool {
        matches!(self, PkiStatus::Granted | PkiStatus::GrantedWithMods)
    }
}

impl std::fmt::Display for PkiStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PkiStatus::Granted => f.write_str("granted"),
            PkiStatus::GrantedWithMods => f.write_str("grantedWithMods"),
            PkiStatus::Rejection => f.write_str("rejection"),
            PkiStatus::Waiting => f.write_str("waiting"),
            PkiStatus::RevocationWarning => f.write_str("revocationWarning"),
            PkiStatus::RevocationNotification => f.write_str("revocationNotification"),
            PkiStatus::Unknown(n) => write!(f, "unknown({n})"),
        }
    }
}

/// PKIFailureInfo bit names, by bit number.
const FAIL_INFO: [(usize, &str); 8] = [
    (0, "badAlg"),
    (2, "badRequest"),
    (5, "badDataFormat"),
    (14, "timeNotAvailable"),
    (15, "unacceptedPolicy"),
    (16, "unacceptedExtension"),
    (17, "addInfoNotAvailable"),
    (25, "systemFailure"),
];

/// A granted response: the status text and the token.
#[derive(Debug, Clone)]
pub struct TimeStampResponse<'a> {
    pub status: PkiStatus,
    pub status_text: Vec<String>,
    pub token: Token<'a>,
}

/// A TimeStampToken, borrowing from the TSA's bytes.
#[derive(Debug, Clone)]
pub struct Token<'a> {
    /// The ContentInfo exactly as the TSA sent it: store these bytes.
    pub der: &'a [u8],
    /// The eContent octets (the DER TSTInfo the message-digest attribute covers).
    pub tst_info_der: &'a [u8],
    pub tst_info: TstInfo<'a>,
    /// SignedData.digestAlgorithms OIDs.
    pub digest_algorithms: Vec<&'a [u8]>,
    /// Certificates in SignedData.certificates, in the order sent.
    pub certificates: Vec<&'a [u8]>,
    pub signer_infos: Vec<SignerInfo<'a>>,
}

/// SignerIdentifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerId<'a> {
    /// Issuer Name encoding and serialNumber contents.
    IssuerSerial {
        issuer: &'a [u8],
        serial: &'a [u8],
    },
    SubjectKeyId(&'a [u8]),
}

/// One SignerInfo.
#[derive(Debug, Clone)]
pub struct SignerInfo<'a> {
    pub sid: SignerId<'a>,
    pub digest_alg: AlgId<'a>,
    /// The `[0] IMPLICIT` signed attributes as sent (re-tag to `0x31` to verify).
    pub signed_attrs: Option<Tlv<'a>>,
    pub sig_alg: AlgId<'a>,
    pub signature: &'a [u8],
}

pub(crate) fn bad(part: &'static str) -> impl Fn(DerError) -> TspError {
    move |source| TspError::Malformed { part, source }
}

/// Parses a TimeStampResp; only a granted one with a token is `Ok`.
pub fn parse_response(der: &[u8]) -> Result<TimeStampResponse<'_>, TspError> {
    let m = bad("TimeStampResp");
    let mut r = parse_single(der, tag::SEQUENCE)
        .and_then(|t| t.reader())
        .map_err(&m)?;
    let mut si = r.nested(tag::SEQUENCE).map_err(&m)?;
    let status = PkiStatus::from_code(
        si.read(tag::INTEGER)
            .and_then(|t| t.small_uint())
            .map_err(&m)?,
    );
    let mut status_text = Vec::new();
    if let Some(text) = si.read_optional(tag::SEQUENCE).map_err(&m)? {
        let mut t = text.reader().map_err(&m)?;
        while !t.is_empty() {
            let s = t.read(tag::UTF8_STRING).map_err(&m)?;
            status_text.push(String::from_utf8_lossy(s.value).chars().take(200).collect());
        }
    }
    let mut fail_info = Vec::new();
    if let Some(bits) = si.read_optional(tag::BIT_STRING).map_err(&m)? {
        let (_, bytes) = bits.bit_string().map_err(&m)?;
        let set = |i: usize| bytes.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0);
        fail_info = FAIL_INFO
            .iter()
            .filter(|(i, _)| set(*i))
            .map(|(_, n)| *n)
            .collect();
    }
    si.finish().map_err(&m)?;
    let token = r.read_optional(tag::SEQUENCE).map_err(&m)?;
    r.finish().map_err(&m)?;
    if !status.is_granted() {
        return Err(TspError::Status {
            status,
            fail_info,
            text: status_text.join("; "),
        });
    }
    let token = parse_token(token.ok_or(TspError::NoToken)?.raw)?;
    Ok(TimeStampResponse {
        status,
        status_text,
        token,
    })
}

/// Parses a TimeStampToken, or the token inside a TimeStampResp.
pub fn parse_token_or_response(der: &[u8]) -> Result<Token<'_>, TspError> {
    let first_inner = parse_single(der, tag::SEQUENCE)
        .and_then(|t| t.reader())
        .map(|r| r.peek_tag());
    match first_inner {
        Ok(Some(tag::OID)) => parse_token(der),
        _ => parse_response(der).map(|r| r.token),
    }
}

/// Parses a bare TimeStampToken (ContentInfo with SignedData).
pub fn parse_token(der: &[u8]) -> Result<Token<'_>, TspError> {
    let m = bad("TimeStampToken");
    let mut ci = parse_single(der, tag::SEQUENCE)
        .and_then(|t| t.reader())
        .map_err(&m)?;
    if ci.read(tag::OID).and_then(|t| t.oid()).map_err(&m)? != oid::SIGNED_DATA {
        return Err(TspError::ContentType("token is not signed-data"));
    }
    let mut wrap = ci.nested(tag::ctx(0)).map_err(&m)?;
    let sd = wrap.read(tag::SEQUENCE).map_err(&m)?;
    wrap.finish().and_then(|_| ci.finish()).map_err(&m)?;
    signed_data(der, sd).map_err(|e| match e {
        TspError::Malformed { source, .. } => TspError::Malformed {
            part: "SignedData",
            source,
        },
        other => other,
    })
}

fn signed_data<'a>(der: &'a [u8], sd: Tlv<'a>) -> Result<Token<'a>, TspError> {
    let m = bad("SignedData");
    let mut r = sd.reader().map_err(&m)?;
    let version = r.read(tag::INTEGER).map_err(&m)?;
    // RFC 5652 5.1: 3 for an eContentType other than id-data (4, 5 with other certs).
    if !(3..=5).contains(&version.small_uint().map_err(&m)?) {
        return Err(m(DerError::Invalid {
            what: "SignedData version",
            at: version.offset,
        }));
    }
    let mut digests = r.nested(tag::SET).map_err(&m)?;
    let mut digest_algorithms = Vec::new();
    while !digests.is_empty() {
        let alg = AlgId::read(&mut digests).map_err(&m)?;
        // Digest AlgorithmIdentifiers carry no parameters or NULL (RFC 5754 2).
        if let Some(p) = alg.params {
            p.null().map_err(&m)?;
        }
        digest_algorithms.push(alg.oid);
    }
    let mut encap = r.nested(tag::SEQUENCE).map_err(&m)?;
    if encap.read(tag::OID).and_then(|t| t.oid()).map_err(&m)? != oid::TST_INFO {
        return Err(TspError::ContentType("eContentType is not id-ct-TSTInfo"));
    }
    let mut econtent = encap.nested(tag::ctx(0)).map_err(&m)?;
    let tst_info_der = econtent.read(tag::OCTET_STRING).map_err(&m)?.value;
    econtent.finish().and_then(|_| encap.finish()).map_err(&m)?;
    let mut certificates = Vec::new();
    if let Some(certs) = r.read_optional(tag::ctx(0)).map_err(&m)? {
        let mut c = certs.reader().map_err(&m)?;
        while !c.is_empty() {
            let cert = c.read_any().map_err(&m)?;
            // Other CertificateChoices (attribute certificates, ...) are not used.
            if cert.tag == tag::SEQUENCE {
                certificates.push(cert.raw);
            }
        }
    }
    r.read_optional(tag::ctx(1)).map_err(&m)?;
    let mut sis = r.nested(tag::SET).map_err(&m)?;
    let mut signer_infos = Vec::new();
    while !sis.is_empty() {
        signer_infos.push(signer_info(&mut sis).map_err(bad("SignerInfo"))?);
    }
    r.finish().map_err(&m)?;
    let tst_info = parse_tst_info(tst_info_der)?;
    Ok(Token {
        der,
        digest_algorithms,
        tst_info_der,
        tst_info,
        certificates,
        signer_infos,
    })
}

fn signer_info<'a>(sis: &mut Reader<'a>) -> Result<SignerInfo<'a>, DerError> {
    let mut s = sis.nested(tag::SEQUENCE)?;
    let version = s.read(tag::INTEGER)?;
    let sid = match s.peek_tag() {
        Some(tag::SEQUENCE) => {
            let mut ias = s.nested(tag::SEQUENCE)?;
            let issuer = ias.read(tag::SEQUENCE)?.raw;
            let serial = ias.read(tag::INTEGER)?.integer()?;
            ias.finish()?;
            SignerId::IssuerSerial { issuer, serial }
        }
        _ => SignerId::SubjectKeyId(s.read(tag::ctx_prim(0))?.value),
    };
    // RFC 5652 5.3: version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier.
    let want = if matches!(sid, SignerId::IssuerSerial { .. }) {
        1
    } else {
        3
    };
    if version.small_uint()? != want {
        return Err(DerError::Invalid {
            what: "SignerInfo version",
            at: version.offset,
        });
    }
    let digest_alg = AlgId::read(&mut s)?;
    let signed_attrs = s.read_optional(tag::ctx(0))?;
    let sig_alg = AlgId::read(&mut s)?;
    let signature = s.read(tag::OCTET_STRING)?.value;
    s.read_optional(tag::ctx(1))?;
    s.finish()?;
    Ok(SignerInfo {
        sid,
        digest_alg,
        signed_attrs,
        sig_alg,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsp::der::tlv;
    use crate::tsp::pem::base64_decode;
    use proptest::prelude::*;

    /// The first receipt of tests/fixtures/signet-0.1/audit-anchored.jsonl.
    fn fixture_response() -> Vec<u8> {
        let path = format!(
            "{}/../../tests/fixtures/signet-0.1/audit-anchored.jsonl",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).expect("fixture");
        let start = text.find("\"receipt\":\"").expect("receipt") + 11;
        let end = start + text[start..].find('"').expect("end");
        base64_decode(&text.as_bytes()[start..end]).expect("base64")
    }

    #[test]
    fn parses_the_signet_receipt() {
        let der = fixture_response();
        let resp = parse_response(&der).expect("parse");
        assert_eq!(resp.status, PkiStatus::Granted);
        let tok = &resp.token;
        assert_eq!(tok.der, &der[9..]);
        assert_eq!(tok.tst_info.policy_string(), "1.2.3.4.1");
        assert_eq!(tok.tst_info.imprint_alg.oid, oid::SHA256);
        assert_eq!(
            crate::util::to_hex(tok.tst_info.imprint),
            "f3670189b7419118e177d1afed03e53f8b988df5ae9002b8239414b9be85c78a"
        );
        assert_eq!(tok.tst_info.serial, [2]);
        assert_eq!(tok.tst_info.gen_time.to_string(), "2026-11-21T21:03:15Z");
        assert_eq!(tok.tst_info.accuracy_us, Some(1_000_000));
        assert!(tok.tst_info.ordering);
        assert_eq!((tok.tst_info.nonce, tok.tst_info.tsa_name), (None, None));
        assert_eq!(tok.certificates.len(), 1);
        assert_eq!(tok.signer_infos.len(), 1);
        assert!(matches!(
            tok.signer_infos[0].sid,
            SignerId::IssuerSerial { .. }
        ));
        assert_eq!(tok.signer_infos[0].signed_attrs.map(|a| a.tag), Some(0xa0));
        assert_eq!(
            parse_token_or_response(tok.der).expect("bare").tst_info_der,
            tok.tst_info_der
        );
    }

    #[test]
    fn status_and_junk() {
        // status rejection, text "no", failInfo badAlg|unacceptedPolicy
        let text = tlv(tag::SEQUENCE, &tlv(tag::UTF8_STRING, b"no"));
        let mut si = tlv(tag::INTEGER, &[2]);
        si.extend(text);
        si.extend(tlv(tag::BIT_STRING, &[0, 0x80, 0x01]));
        let resp = tlv(tag::SEQUENCE, &tlv(tag::SEQUENCE, &si));
        let e = parse_response(&resp).expect_err("rejected");
        assert_eq!(
            e,
            TspError::Status {
                status: PkiStatus::Rejection,
                fail_info: vec!["badAlg", "unacceptedPolicy"],
                text: "no".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "status rejection (badAlg, unacceptedPolicy): no"
        );
        let granted_empty = tlv(tag::SEQUENCE, &tlv(tag::SEQUENCE, &tlv(tag::INTEGER, &[0])));
        assert_eq!(
            parse_response(&granted_empty).expect_err("no token"),
            TspError::NoToken
        );
        for junk in [
            &b"this is not a TimeStampResp"[..],
            b"ok",
            b"",
            &fixture_response()[..100],
        ] {
            assert_eq!(
                parse_token_or_response(junk).expect_err("junk").kind(),
                "malformed"
            );
        }
    }

    proptest! {
        #[test]
        fn damaged_receipts_never_panic(cut in 0usize..1600, flip in 0usize..1600, bit in 0u8..8) {
            let mut der = fixture_response();
            let i = flip % der.len();
            der[i] ^= 1 << bit;
            der.truncate(cut.max(1));
            let _ = parse_token_or_response(&der);
        }
    }
}
