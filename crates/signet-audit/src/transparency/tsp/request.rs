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

use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::{Encode, Sequence};
use x509_cert::spki::AlgorithmIdentifierRef;

use super::TspError;
use super::oid;
use super::tst_info::IntBytes;
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
    let policy_oid = ObjectIdentifier::new(policy)
        .map_err(|_| TspError::Unsupported(format!("policy {policy:?} is not an OID")))?;
    let nonce = Nonce::random();
    Ok((encode(digest, Some(policy_oid), &nonce), nonce))
}

/// TimeStampReq (RFC 3161 section 2.4.1), without extensions.
#[derive(Sequence)]
struct TimeStampReq<'a> {
    version: u8,
    imprint: MessageImprint<'a>,
    #[asn1(optional = "true")]
    policy: Option<ObjectIdentifier>,
    nonce: IntBytes<'a>,
    cert_req: bool,
}

#[derive(Sequence)]
struct MessageImprint<'a> {
    alg: AlgorithmIdentifierRef<'a>,
    hash: &'a OctetStringRef,
}

/// The DER TimeStampReq for the given parts (deterministic; for tests and replays).
pub fn encode(digest: &[u8; 32], policy: Option<ObjectIdentifier>, nonce: &Nonce) -> Vec<u8> {
    let Ok(hash) = OctetStringRef::new(digest) else {
        unreachable!("a 32-byte OCTET STRING always encodes");
    };
    let nonce = IntBytes(nonce.as_bytes());
    TimeStampReq {
        version: 1,
        imprint: MessageImprint {
            alg: AlgorithmIdentifierRef {
                oid: oid::SHA256,
                parameters: Some(AnyRef::NULL),
            },
            hash,
        },
        policy,
        nonce,
        cert_req: true,
    }
    .to_der()
    .unwrap_or_else(|_| unreachable!("a TimeStampReq of bounded size always encodes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Decode;

    #[derive(Sequence)]
    struct Req<'a> {
        version: u8,
        imprint: MessageImprint<'a>,
        #[asn1(optional = "true")]
        policy: Option<ObjectIdentifier>,
        nonce: IntBytes<'a>,
        cert_req: bool,
    }

    #[test]
    fn request_has_the_rfc3161_shape() {
        let digest = [0xab; 32];
        let (der, nonce) = request_with_policy(&digest, "1.2.3.4.5.6").expect("request");
        let r = Req::from_der(&der).expect("strict DER");
        assert_eq!(r.version, 1);
        assert_eq!(r.imprint.alg.oid, oid::SHA256);
        assert!(r.imprint.alg.parameters.is_some_and(|p| p.is_null()));
        assert_eq!(r.imprint.hash.as_bytes(), digest);
        assert_eq!(
            r.policy.map(|p| p.to_string()).as_deref(),
            Some("1.2.3.4.5.6")
        );
        assert_eq!(r.nonce.0, nonce.as_bytes());
        assert!(r.cert_req);
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
        assert!(Req::from_der(&der).is_ok());
    }
}
