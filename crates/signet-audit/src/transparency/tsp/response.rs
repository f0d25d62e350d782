//! Parsing RFC 3161 TimeStampResp and TimeStampToken (CMS SignedData over TSTInfo),
//! with RustCrypto `cms` for the token and `der` for the response envelope.
//!
//! Guarantees:
//! - [`parse_response`] returns a token only for PKIStatus granted (0) or
//!   grantedWithMods (1); any other status is [`TspError::Status`] with the status,
//!   the failInfo bit names and the statusString text.
//! - The token is kept as the TSA's **original bytes** ([`Token::der`]). `cms` decodes
//!   it (DER, every embedded certificate through `x509-cert`; note that `der` sorts a
//!   SET OF while decoding instead of refusing one out of order, so nothing here pairs
//!   decoded set members with raw bytes by position);
//!   the bytes the checks need (eContent, signed attributes, signature, certificates)
//!   are then located by walking the same bytes with `der`'s reader, so nothing is
//!   re-encoded before a digest or signature check.
//! - The token must be id-signedData (version 3-5) whose eContentType is
//!   id-ct-TSTInfo with the TSTInfo present (parsed by `tst_info.rs`); each SignerInfo's
//!   version matches its sid; digestAlgorithms carry no parameters or NULL. Nothing
//!   here checks a signature: that is `verify.rs`.

use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef, Utf8StringRef};
use der::{Decode, Reader, Sequence, SliceReader};

use super::TspError;
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
    pub digest_algorithms: Vec<ObjectIdentifier>,
    /// Certificates in SignedData.certificates, in the order sent.
    pub certificates: Vec<&'a [u8]>,
    pub signer_infos: Vec<SignerInfo<'a>>,
}

/// One encoded value inside the token: its identifier octet and whole encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawTlv<'a> {
    pub tag: u8,
    pub raw: &'a [u8],
}

/// One SignerInfo: as decoded by `cms`, plus the original bytes the checks use.
#[derive(Debug, Clone)]
pub struct SignerInfo<'a> {
    pub info: cms::signed_data::SignerInfo,
    /// The `[0] IMPLICIT` signed attributes as sent (re-tag to `0x31` to verify).
    pub signed_attrs: Option<RawTlv<'a>>,
    pub signature: &'a [u8],
}

fn malformed(part: &'static str) -> impl Fn(der::Error) -> TspError {
    move |source| TspError::Malformed { part, source }
}

/// PKIStatusInfo.
#[derive(Sequence)]
struct StatusInfo<'a> {
    status: u64,
    #[asn1(optional = "true")]
    text: Option<Vec<Utf8StringRef<'a>>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitStringRef<'a>>,
}

/// Parses a TimeStampResp; only a granted one with a token is `Ok`.
pub fn parse_response(der: &[u8]) -> Result<TimeStampResponse<'_>, TspError> {
    let m = malformed("TimeStampResp");
    let mut r = SliceReader::new(der).map_err(&m)?;
    let (si, token) = r
        .sequence(|r| {
            let si = StatusInfo::decode(r)?;
            let token = if r.is_finished() {
                None
            } else {
                Some(r.tlv_bytes()?)
            };
            Ok::<_, der::Error>((si, token))
        })
        .map_err(&m)?;
    r.finish().map_err(&m)?;
    let status = PkiStatus::from_code(si.status);
    let status_text: Vec<String> = si
        .text
        .unwrap_or_default()
        .iter()
        .map(|s| s.as_str().chars().take(200).collect())
        .collect();
    let bytes = si.fail_info.map(|b| b.raw_bytes()).unwrap_or_default();
    let set = |i: usize| bytes.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0);
    let fail_info = FAIL_INFO
        .iter()
        .filter(|(i, _)| set(*i))
        .map(|(_, n)| *n)
        .collect();
    if !status.is_granted() {
        return Err(TspError::Status {
            status,
            fail_info,
            text: status_text.join("; "),
        });
    }
    let token = parse_token(token.ok_or(TspError::NoToken)?)?;
    Ok(TimeStampResponse {
        status,
        status_text,
        token,
    })
}

/// Parses a TimeStampToken, or the token inside a TimeStampResp.
pub fn parse_token_or_response(der: &[u8]) -> Result<Token<'_>, TspError> {
    let first_inner = AnyRef::from_der(der)
        .ok()
        .and_then(|seq| seq.value().first().copied());
    match first_inner {
        Some(0x06) => parse_token(der),
        _ => parse_response(der).map(|r| r.token),
    }
}

/// Parses a bare TimeStampToken (ContentInfo with SignedData).
pub fn parse_token(der: &[u8]) -> Result<Token<'_>, TspError> {
    let ci = ContentInfo::from_der(der).map_err(malformed("TimeStampToken"))?;
    if ci.content_type != oid::SIGNED_DATA {
        return Err(TspError::ContentType("token is not signed-data"));
    }
    let sd: SignedData = ci.content.decode_as().map_err(malformed("SignedData"))?;
    let invalid = |what: &'static str| TspError::Malformed {
        part: what,
        source: der::Tag::Sequence.value_error().into(),
    };
    // RFC 5652 5.1: 3 for an eContentType other than id-data (4, 5 with other certs).
    if !matches!(sd.version, CmsVersion::V3 | CmsVersion::V4 | CmsVersion::V5) {
        return Err(invalid("SignedData version"));
    }
    // Digest AlgorithmIdentifiers carry no parameters or NULL (RFC 5754 2).
    if sd
        .digest_algorithms
        .iter()
        .any(|a| a.parameters.as_ref().is_some_and(|p| !p.is_null()))
    {
        return Err(invalid("SignedData digestAlgorithms"));
    }
    if sd.encap_content_info.econtent_type != oid::TST_INFO {
        return Err(TspError::ContentType("eContentType is not id-ct-TSTInfo"));
    }
    let spans = spans(der).map_err(malformed("SignedData"))?;
    let mut signer_infos = Vec::new();
    for (info, (signed_attrs, signature)) in
        sd.signer_infos.0.into_vec().into_iter().zip(spans.signers)
    {
        // RFC 5652 5.3: version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier.
        let want = match info.sid {
            SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
            SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
        };
        if info.version != want {
            return Err(invalid("SignerInfo version"));
        }
        signer_infos.push(SignerInfo {
            info,
            signed_attrs,
            signature,
        });
    }
    // Other CertificateChoices (attribute certificates, ...) are not used. They are
    // told apart in the token's own bytes: `der` sorts a SET OF while decoding, so the
    // decoded set's order need not be the bytes' order; a plain certificate is the
    // untagged SEQUENCE choice, every other choice is context-tagged.
    let certificates = spans
        .certificates
        .into_iter()
        .filter(|raw| raw.first() == Some(&0x30))
        .collect();
    let tst_info = parse_tst_info(spans.econtent)?;
    Ok(Token {
        der,
        tst_info_der: spans.econtent,
        tst_info,
        digest_algorithms: sd.digest_algorithms.iter().map(|a| a.oid).collect(),
        certificates,
        signer_infos,
    })
}

/// Where the checked parts of a token are in its bytes.
struct Spans<'a> {
    econtent: &'a [u8],
    certificates: Vec<&'a [u8]>,
    /// Per SignerInfo: the signed attributes and the signature octets.
    signers: Vec<(Option<RawTlv<'a>>, &'a [u8])>,
}

/// The contents of the one value in `tlv`.
fn inner(tlv: &[u8]) -> der::Result<SliceReader<'_>> {
    SliceReader::new(AnyRef::from_der(tlv)?.value())
}

/// Walks ContentInfo / SignedData (already validated by `cms`) for the spans.
fn spans(der: &[u8]) -> der::Result<Spans<'_>> {
    let mut ci = inner(der)?;
    ci.tlv_bytes()?; // contentType
    let mut wrap = inner(ci.tlv_bytes()?)?; // [0] EXPLICIT
    let mut sd = inner(wrap.tlv_bytes()?)?;
    sd.tlv_bytes()?; // version
    sd.tlv_bytes()?; // digestAlgorithms
    let mut encap = inner(sd.tlv_bytes()?)?;
    encap.tlv_bytes()?; // eContentType
    let mut explicit = inner(encap.tlv_bytes()?)?; // [0] EXPLICIT
    // `cms` decodes eContent as ANY; RFC 5652 says OCTET STRING.
    let econtent = <&OctetStringRef>::from_der(explicit.tlv_bytes()?)?.as_bytes();
    let mut certificates = Vec::new();
    if sd.peek_byte() == Some(0xa0) {
        let mut set = inner(sd.tlv_bytes()?)?;
        while !set.is_finished() {
            certificates.push(set.tlv_bytes()?);
        }
    }
    if sd.peek_byte() == Some(0xa1) {
        sd.tlv_bytes()?; // crls
    }
    let mut sis = inner(sd.tlv_bytes()?)?;
    let mut signers = Vec::new();
    while !sis.is_finished() {
        let mut si = inner(sis.tlv_bytes()?)?;
        si.tlv_bytes()?; // version
        si.tlv_bytes()?; // sid
        si.tlv_bytes()?; // digestAlgorithm
        let signed_attrs = match si.peek_byte() {
            Some(tag @ 0xa0) => Some(RawTlv {
                tag,
                raw: si.tlv_bytes()?,
            }),
            _ => None,
        };
        si.tlv_bytes()?; // signatureAlgorithm
        let signature = AnyRef::from_der(si.tlv_bytes()?)?.value();
        signers.push((signed_attrs, signature));
    }
    Ok(Spans {
        econtent,
        certificates,
        signers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsp::pem::base64_decode;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, u8::try_from(content.len()).expect("short")];
        v.extend_from_slice(content);
        v
    }
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
        assert_eq!(tok.digest_algorithms, [oid::SHA256]);
        assert_eq!(
            crate::util::to_hex(tok.tst_info.imprint),
            "f3670189b7419118e177d1afed03e53f8b988df5ae9002b8239414b9be85c78a"
        );
        assert_eq!(tok.tst_info.serial, [2]);
        assert_eq!(tok.tst_info.gen_time.to_string(), "2026-11-21T21:03:15Z");
        assert_eq!(tok.tst_info.accuracy_us, Some(1_000_000));
        assert!(tok.tst_info.ordering);
        assert!(tok.tst_info.nonce.is_none() && tok.tst_info.tsa_name.is_none());
        assert_eq!(tok.certificates.len(), 1);
        assert_eq!(tok.signer_infos.len(), 1);
        assert!(matches!(
            tok.signer_infos[0].info.sid,
            SignerIdentifier::IssuerAndSerialNumber(_)
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
        let text = tlv(0x30, &tlv(0x0c, b"no"));
        let mut si = tlv(0x02, &[2]);
        si.extend(text);
        si.extend(tlv(0x03, &[0, 0x80, 0x01]));
        let resp = tlv(0x30, &tlv(0x30, &si));
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
        let granted_empty = tlv(0x30, &tlv(0x30, &tlv(0x02, &[0])));
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
