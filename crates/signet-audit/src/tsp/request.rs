//! Building RFC 3161 TimeStampReq messages (the runtime POSTs the bytes as
//! `application/timestamp-query`).
//!
//! Guarantees:
//! - The request is DER: version 1, a SHA-256 messageImprint (AlgorithmIdentifier with
//!   NULL parameters, as `openssl ts -query` writes it), the optional policy OID, a
//!   fresh 64-bit nonce from the OS random source, and certReq TRUE so the TSA embeds
//!   its certificate in the token.
//! - The [`Nonce`] returned is the positive INTEGER exactly as encoded; pass it to
//!   `verify_token` to bind the response to this request.

use super::TspError;
use super::der::{tag, write_tlv};
use super::oid;
use crate::util::{fill_random, to_hex};

/// A request nonce: the contents octets of a positive DER INTEGER.
#[derive(Clone, PartialEq, Eq)]
pub struct Nonce(Vec<u8>);

impl Nonce {
    /// A fresh nonce of 64 random bits.
    pub fn random() -> Nonce {
        let mut b = [0u8; 8];
        fill_random(&mut b);
        Nonce::from_unsigned(&b)
    }

    /// The nonce for an unsigned big-endian integer (leading zeros dropped).
    pub fn from_unsigned(bytes: &[u8]) -> Nonce {
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let mut v = bytes[skip..].to_vec();
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        Nonce(v)
    }

    /// INTEGER contents octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl std::fmt::Debug for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nonce({})", self.to_hex())
    }
}

/// A TimeStampReq for `digest` (SHA-256) with a fresh nonce and certReq TRUE.
pub fn request(digest: &[u8; 32]) -> (Vec<u8>, Nonce) {
    let nonce = Nonce::random();
    (encode(digest, None, &nonce), nonce)
}

/// Like [`request`], asking for the TSA policy `policy` (dotted OID text).
pub fn request_with_policy(digest: &[u8; 32], policy: &str) -> Result<(Vec<u8>, Nonce), TspError> {
    let policy_oid = oid::from_dotted(policy)
        .ok_or_else(|| TspError::Unsupported(format!("policy {policy:?} is not an OID")))?;
    let nonce = Nonce::random();
    Ok((encode(digest, Some(&policy_oid), &nonce), nonce))
}

/// The DER TimeStampReq for the given parts (deterministic; for tests and replays).
pub fn encode(digest: &[u8; 32], policy: Option<&[u8]>, nonce: &Nonce) -> Vec<u8> {
    let mut alg = Vec::new();
    write_tlv(tag::OID, oid::SHA256, &mut alg);
    write_tlv(tag::NULL, &[], &mut alg);
    let mut imprint = Vec::new();
    write_tlv(tag::SEQUENCE, &alg, &mut imprint);
    write_tlv(tag::OCTET_STRING, digest, &mut imprint);

    let mut body = Vec::with_capacity(96);
    write_tlv(tag::INTEGER, &[1], &mut body);
    write_tlv(tag::SEQUENCE, &imprint, &mut body);
    if let Some(p) = policy {
        write_tlv(tag::OID, p, &mut body);
    }
    write_tlv(tag::INTEGER, nonce.as_bytes(), &mut body);
    write_tlv(tag::BOOLEAN, &[0xff], &mut body);
    let mut out = Vec::with_capacity(body.len() + 4);
    write_tlv(tag::SEQUENCE, &body, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsp::crypto::AlgId;
    use crate::tsp::der::parse_single;

    #[test]
    fn request_has_the_rfc3161_shape() {
        let digest = [0xab; 32];
        let (der, nonce) = request_with_policy(&digest, "1.2.3.4.5.6").expect("request");
        let mut r = parse_single(&der, tag::SEQUENCE)
            .and_then(|t| t.reader())
            .expect("seq");
        assert_eq!(r.read(tag::INTEGER).and_then(|t| t.small_uint()), Ok(1));
        let mut mi = r.nested(tag::SEQUENCE).expect("imprint");
        let alg = AlgId::read(&mut mi).expect("alg");
        assert_eq!(alg.oid, oid::SHA256);
        assert!(alg.params.is_some_and(|p| p.null().is_ok()));
        assert_eq!(mi.read(tag::OCTET_STRING).expect("hash").value, digest);
        assert_eq!(
            r.read(tag::OID).map(|o| oid::to_dotted(o.value)).as_deref(),
            Ok("1.2.3.4.5.6")
        );
        let n = r.read(tag::INTEGER).expect("nonce");
        assert_eq!(n.integer(), Ok(nonce.as_bytes()));
        assert_eq!(r.read(tag::BOOLEAN).and_then(|b| b.boolean()), Ok(true));
        r.finish().expect("no extensions");
        assert!(request_with_policy(&digest, "not.an.oid").is_err());
    }

    #[test]
    fn nonces_are_fresh_positive_and_minimal() {
        let (a, b) = (Nonce::random(), Nonce::random());
        assert_ne!(a, b);
        for n in [a, b] {
            let v = n.as_bytes();
            assert!(v.len() <= 9 && !v.is_empty());
            assert_eq!(v[0] & 0x80, 0, "positive");
            assert!(v.len() == 1 || v[0] != 0 || v[1] & 0x80 != 0, "minimal");
        }
        assert_eq!(Nonce::from_unsigned(&[0, 0, 0x80]).as_bytes(), [0, 0x80]);
        assert_eq!(Nonce::from_unsigned(&[0, 0x7f]).as_bytes(), [0x7f]);
        assert_eq!(Nonce::from_unsigned(&[0, 0]).as_bytes(), [0]);
        let (der, _) = request(&[0; 32]);
        assert!(parse_single(&der, tag::SEQUENCE).is_ok());
    }
}
