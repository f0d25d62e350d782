//! A tiny strict base64 decoder and a PEM reader for `CERTIFICATE` blocks (no new
//! dependency for either).
//!
//! Guarantees:
//! - [`base64_decode`] accepts only the standard alphabet (RFC 4648 section 4) with
//!   `=` padding to a multiple of 4 and zero unused bits, so each byte string has
//!   exactly one accepted encoding; no whitespace.
//! - [`certificates`] returns the DER of every `-----BEGIN CERTIFICATE-----` block in
//!   order. Text outside blocks is ignored (RFC 7468 allows it); any other block label,
//!   an unterminated block, headers inside a block or bad base64 is an error.

/// Why PEM text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error("pem is not utf-8")]
    NotUtf8,
    #[error("unexpected pem block {0:?} at line {1}")]
    UnexpectedLabel(String, usize),
    #[error("pem block starting at line {0} is not terminated")]
    Unterminated(usize),
    #[error("invalid base64 in pem block starting at line {0}")]
    Base64(usize),
    #[error("no certificate in pem")]
    Empty,
}

fn sextet(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Decodes padded standard base64; `None` if anything is off.
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let quads = s.chunks_exact(4);
    let last = quads.len().checked_sub(1);
    for (i, q) in quads.enumerate() {
        let pad = q.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && Some(i) != last) {
            return None;
        }
        let mut n = 0u32;
        for c in &q[..4 - pad] {
            n = (n << 6) | sextet(*c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // The bits below the last full byte must be zero (canonical encoding).
        if pad > 0 && bytes[3 - pad] != 0 {
            return None;
        }
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// The DER of every certificate in `pem`.
pub fn certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, PemError> {
    let text = std::str::from_utf8(pem).map_err(|_| PemError::NotUtf8)?;
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(label) = line
            .trim_end()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        if label != "CERTIFICATE" {
            return Err(PemError::UnexpectedLabel(
                label.chars().take(40).collect(),
                n + 1,
            ));
        }
        let mut b64 = String::new();
        loop {
            let (_, l) = lines.next().ok_or(PemError::Unterminated(n + 1))?;
            let l = l.trim();
            if l == "-----END CERTIFICATE-----" {
                break;
            }
            if l.contains(':') || l.starts_with("-----") {
                return Err(PemError::Base64(n + 1));
            }
            b64.push_str(l);
        }
        out.push(base64_decode(b64.as_bytes()).ok_or(PemError::Base64(n + 1))?);
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
            Err(PemError::UnexpectedLabel(_, 1))
        ));
        let open = "-----BEGIN CERTIFICATE-----\nMAA=\n";
        assert_eq!(
            certificates(open.as_bytes()),
            Err(PemError::Unterminated(1))
        );
        let bad = "-----BEGIN CERTIFICATE-----\nMA*=\n-----END CERTIFICATE-----\n";
        assert_eq!(certificates(bad.as_bytes()), Err(PemError::Base64(1)));
    }

    proptest! {
        #[test]
        fn decodes_what_a_reference_encoder_writes(data in proptest::collection::vec(any::<u8>(), 0..48)) {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut enc = Vec::new();
            for c in data.chunks(3) {
                let n = c.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
                for i in 0..4 {
                    enc.push(if i <= c.len() { A[(n >> (18 - 6 * i) & 63) as usize] } else { b'=' });
                }
            }
            prop_assert_eq!(base64_decode(&enc), Some(data));
        }

        #[test]
        fn never_panics(s in "[A-Za-z0-9+/=\n-]{0,40}") {
            let _ = (base64_decode(s.as_bytes()), certificates(s.as_bytes()));
        }
    }
}
