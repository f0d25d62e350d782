//! RFC 3161 timestamps: build the request, parse the response, verify the token, with
//! no network and no async (the runtime POSTs [`request`]'s bytes to the TSA and hands
//! the reply to [`parse_response`] / [`verify_token`]).
//!
//! Guarantees:
//! - Tokens are kept and checked as the TSA's **original bytes** ([`Token::der`]);
//!   digests and signatures are checked over those bytes, never over a re-encoding.
//! - Parsing is RustCrypto `formats` (`der`, `cms`, `x509-cert`), the certificate path
//!   is `rustls-webpki`'s, signatures are `ring`'s; the RFC 3161 policy checks (status,
//!   imprint, nonce, ESS binding, critical timeStamping EKU, genTime validity) are ours.
//!   See docs/decisions/0001-rfc3161-on-rustcrypto.md.
//! - [`verify_token`] checks status, imprint (SHA-256), nonce, the CMS signed
//!   attributes (content-type, message-digest), the signature over them with the
//!   signer certificate's key (RSA PKCS#1 v1.5 / PSS, ECDSA P-256 / P-384 via `ring`),
//!   the ESS signing-certificate binding (v2, and v1 with SHA-1), the TSA
//!   certificate's critical timeStamping EKU, and a certificate path to a configured
//!   root with every certificate valid at genTime (not at the wall clock). The order
//!   and details are in `verify.rs`.
//! - Every failure is a [`TspError`] whose [`TspError::kind`] names what failed, for a
//!   verifier report.
//! - signet 0.1 per-entry anchors (`metadata._anchor`) are checked by
//!   [`verify_signet_anchor`] (see `signet.rs`).
//!
//! Assumes: the caller supplies the digest it expects to be timestamped (for
//! checkpoints, SHA-256 of the signed note bytes) and the trust roots it configured.

pub mod chain;
pub mod crypto;
pub mod ess;
pub mod oid;
pub mod pem;
pub mod request;
pub mod response;
pub mod signet;
pub mod time;
pub mod tst_info;
pub mod verify;
pub mod x509;

pub use chain::TrustRoots;
pub use request::{Nonce, request, request_with_policy};
pub use response::{
    PkiStatus, TimeStampResponse, Token, parse_response, parse_token, parse_token_or_response,
};
pub use signet::{AnchorError, SignetAnchor, tentative_hmac, verify_signet_anchor};
pub use time::Time;
pub use tst_info::{TstInfo, parse_tst_info};
pub use verify::{VerifiedTimestamp, verify_parsed, verify_token};

/// Why a timestamp response or token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TspError {
    #[error("malformed {part}: {source}")]
    Malformed {
        part: &'static str,
        source: der::Error,
    },
    #[error("status {status}{}{}", fail_suffix(.fail_info), text_suffix(.text))]
    Status {
        status: PkiStatus,
        fail_info: Vec<&'static str>,
        text: String,
    },
    #[error("status granted but the response carries no token")]
    NoToken,
    #[error("content type: {0}")]
    ContentType(&'static str),
    #[error("unsupported {0}")]
    Unsupported(String),
    #[error("imprint: {0}")]
    Imprint(&'static str),
    #[error("nonce: {0}")]
    Nonce(&'static str),
    #[error("signer: {0}")]
    Signer(String),
    #[error("message digest: {0}")]
    MessageDigest(&'static str),
    #[error("signature: {0}")]
    Signature(String),
    #[error("ess_cert_id: {0}")]
    EssCertId(String),
    #[error("eku: {0}")]
    Eku(&'static str),
    #[error("key usage: {0}")]
    KeyUsage(String),
    #[error("tsa name: {0}")]
    TsaName(&'static str),
    #[error("chain: {0}")]
    Chain(String),
    #[error("validity: {subject} is valid {not_before} to {not_after}, not at genTime {gen_time}")]
    Validity {
        subject: String,
        not_before: Time,
        not_after: Time,
        gen_time: Time,
    },
    #[error("trust roots: {0}")]
    Roots(String),
}

fn fail_suffix(fail_info: &[&str]) -> String {
    if fail_info.is_empty() {
        String::new()
    } else {
        format!(" ({})", fail_info.join(", "))
    }
}

fn text_suffix(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

impl TspError {
    /// A stable snake_case name of the failed check, for reports and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            TspError::Malformed { .. } => "malformed",
            TspError::Status { .. } | TspError::NoToken => "status",
            TspError::ContentType(_) => "content_type",
            TspError::Unsupported(_) => "unsupported",
            TspError::Imprint(_) => "imprint",
            TspError::Nonce(_) => "nonce",
            TspError::Signer(_) => "signer",
            TspError::MessageDigest(_) => "message_digest",
            TspError::Signature(_) => "signature",
            TspError::EssCertId(_) => "ess_cert_id",
            TspError::Eku(_) => "eku",
            TspError::KeyUsage(_) => "key_usage",
            TspError::TsaName(_) => "tsa_name",
            TspError::Chain(_) => "chain",
            TspError::Validity { .. } => "validity",
            TspError::Roots(_) => "roots",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lower_case_and_name_the_check() {
        let e = TspError::Status {
            status: PkiStatus::Waiting,
            fail_info: vec![],
            text: String::new(),
        };
        assert_eq!(e.to_string(), "status waiting");
        assert_eq!(e.kind(), "status");
        let e = TspError::Imprint("hash algorithm is not SHA-256");
        assert_eq!(
            (e.kind(), e.to_string().as_str()),
            ("imprint", "imprint: hash algorithm is not SHA-256")
        );
        let e = crate::tsp::parse_tst_info(&[0x30, 0x03, 0x02]).expect_err("truncated");
        assert_eq!(e.kind(), "malformed");
        assert!(e.to_string().starts_with("malformed TSTInfo: "), "{e}");
    }
}
