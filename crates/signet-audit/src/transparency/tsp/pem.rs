//! PEM certificates and strict base64, on `rustls-pki-types` and `base64`.
//!
//! Guarantees:
//! - [`base64_decode`] accepts only the standard alphabet (RFC 4648 section 4) with
//!   `=` padding to a multiple of 4 and zero unused bits, so each byte string has
//!   exactly one accepted encoding; no whitespace (the `base64` crate's `STANDARD`
//!   engine, which is canonical by default).
//! - [`certificates`] returns the DER of every `-----BEGIN CERTIFICATE-----` block in
//!   order (RFC 7468, read by `rustls-pki-types`). Text outside blocks is ignored; any
//!   other block label, an unterminated block or bad base64 is an error.

use base64::Engine as _;
use rustls_pki_types::pem::{self, SectionKind};

/// Why PEM text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error("unexpected pem block {0:?}")]
    UnexpectedLabel(String),
    #[error("invalid pem: {0}")]
    Invalid(String),
    #[error("no certificate in pem")]
    Empty,
}

/// Decodes padded standard base64; `None` if anything is off.
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// The DER of every certificate in `pem`.
pub fn certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, PemError> {
    let mut out = Vec::new();
    let mut rest = pem;
    loop {
        match pem::from_buf(&mut rest) {
            Ok(Some((SectionKind::Certificate, der))) => out.push(der),
            Ok(Some((kind, _))) => {
                return Err(PemError::UnexpectedLabel(format!("{kind:?}")));
            }
            Ok(None) => break,
            Err(e) => return Err(PemError::Invalid(e.to_string().to_lowercase())),
        }
    }
    if out.is_empty() {
        Err(PemError::Empty)
    } else {
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(
                base64_decode(enc.as_bytes()).as_deref(),
                Some(plain.as_bytes()),
                "{enc}"
            );
        }
        for bad in [
            "Zg", "Zh==", "Zg=a", "Zg==Zg==", "Z===", "Zm9v\n", "Zm-v", "====",
        ] {
            assert_eq!(base64_decode(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(base64_decode(b"b2s=").as_deref(), Some(&b"ok"[..]));
    }

    #[test]
    fn reads_certificate_blocks() {
        let pem = "intro text\n-----BEGIN CERTIFICATE-----\nMAMC\nAQE=\n-----END CERTIFICATE-----\n\
                   -----BEGIN CERTIFICATE-----\r\nMAA=\r\n-----END CERTIFICATE-----\r\n";
        assert_eq!(
            certificates(pem.as_bytes()),
            Ok(vec![vec![0x30, 0x03, 0x02, 0x01, 0x01], vec![0x30, 0x00]])
        );
        assert_eq!(certificates(b"nothing"), Err(PemError::Empty));
        let key = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            certificates(key.as_bytes()),
            Err(PemError::UnexpectedLabel(_))
        ));
        let open = "-----BEGIN CERTIFICATE-----\nMAA=\n";
        assert!(matches!(
            certificates(open.as_bytes()),
            Err(PemError::Invalid(_))
        ));
        let bad = "-----BEGIN CERTIFICATE-----\nMA*=\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            certificates(bad.as_bytes()),
            Err(PemError::Invalid(_))
        ));
    }

    proptest! {
        #[test]
        fn decodes_what_the_encoder_writes(data in proptest::collection::vec(any::<u8>(), 0..48)) {
            let enc = base64::engine::general_purpose::STANDARD.encode(&data);
            prop_assert_eq!(base64_decode(enc.as_bytes()), Some(data));
        }

        #[test]
        fn never_panics(s in "[A-Za-z0-9+/=\n-]{0,40}") {
            let _ = (base64_decode(s.as_bytes()), certificates(s.as_bytes()));
        }
    }
}
