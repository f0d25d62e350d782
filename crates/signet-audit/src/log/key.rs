//! HMAC-SHA256 keys for the chain, and the key ring that verification uses.
//!
//! Guarantees:
//! - Key bytes live in [`Zeroizing`] buffers and are wiped on drop; `Debug` prints the
//!   key id only, and no error message contains key material.
//! - A key is at least [`MIN_KEY_BYTES`] bytes, given as hex (whitespace around it is
//!   ignored, so a file with a trailing newline works).
//! - [`MacTag`] has no `PartialEq`: the only comparison offered is constant time.

use std::fmt;
use std::path::Path;

use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Smallest accepted HMAC key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// Key id used when none is configured (signet's default).
pub const DEFAULT_KEY_ID: &str = "k1";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("hmac key is not valid hex")]
    NotHex,
    #[error("hmac key is {0} bytes; at least {MIN_KEY_BYTES} are required")]
    TooShort(usize),
    #[error("key id must be 1 to 64 characters of [A-Za-z0-9._-]")]
    BadKeyId,
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("duplicate key id {0} in key ring")]
    Duplicate(String),
}

/// Checks a key id: printable, short, no separators that would break a receipt header.
pub fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One HMAC key with its id.
#[derive(Clone)]
pub struct HmacKey {
    id: String,
    bytes: Zeroizing<Vec<u8>>,
    /// HMAC state with the key's inner and outer pads already absorbed, cloned for
    /// each MAC (the `zeroize` feature wipes it on drop, like the key bytes).
    prepared: HmacSha256,
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("id", &self.id)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

impl HmacKey {
    /// Builds a key from hex text.
    pub fn from_hex(id: &str, hex: &str) -> Result<Self, KeyError> {
        if !valid_key_id(id) {
            return Err(KeyError::BadKeyId);
        }
        let bytes = decode_hex_secret(hex.trim())?;
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort(bytes.len()));
        }
        Ok(Self::with_bytes(id, bytes))
    }

    fn with_bytes(id: &str, bytes: Zeroizing<Vec<u8>>) -> Self {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        let prepared = match HmacSha256::new_from_slice(&bytes) {
            Ok(m) => m,
            Err(_) => unreachable!("hmac accepts any key length"),
        };
        HmacKey {
            id: id.to_owned(),
            bytes,
            prepared,
        }
    }

    /// Reads a hex key from a file.
    pub fn from_file(id: &str, path: &Path) -> Result<Self, KeyError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                    path: path.display().to_string(),
                    source,
                })?,
            );
        Self::from_hex(id, &text)
    }

    /// A fresh random 32-byte key.
    pub fn generate(id: &str) -> Result<Self, KeyError> {
        if !valid_key_id(id) {
            return Err(KeyError::BadKeyId);
        }
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        crate::util::fill_random(&mut bytes);
        Ok(Self::with_bytes(id, bytes))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as lowercase hex, for writing a key file. Handle with care.
    pub fn to_hex_secret(&self) -> Zeroizing<String> {
        Zeroizing::new(crate::util::to_hex(&self.bytes))
    }

    /// HMAC-SHA256 over the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> MacTag {
        let mut m = self.prepared.clone();
        for p in parts {
            m.update(p);
        }
        let out = m.finalize().into_bytes();
        let mut tag = [0u8; 32];
        tag.copy_from_slice(&out);
        MacTag(tag)
    }
}

fn decode_hex_secret(hex: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let h = hex.as_bytes();
    if !h.len().is_multiple_of(2) {
        return Err(KeyError::NotHex);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(h.len() / 2));
    for pair in h.chunks_exact(2) {
        let hi = (pair[0] as char).to_digit(16).ok_or(KeyError::NotHex)?;
        let lo = (pair[1] as char).to_digit(16).ok_or(KeyError::NotHex)?;
        out.push((hi * 16 + lo) as u8);
    }
    Ok(out)
}

/// An HMAC-SHA256 tag. Compare only with [`MacTag::ct_eq_hex`] or [`MacTag::ct_eq`].
#[derive(Clone)]
pub struct MacTag([u8; 32]);

impl fmt::Debug for MacTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacTag({})", self.to_hex())
    }
}

impl MacTag {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// 64 lowercase hex characters, as written in the log.
    pub fn to_hex(&self) -> String {
        crate::util::to_hex(&self.0)
    }
    /// Constant-time comparison with another tag.
    pub fn ct_eq(&self, other: &MacTag) -> bool {
        self.0.ct_eq(&other.0).into()
    }
    /// Constant-time comparison with a hex tag as found in a log line. A malformed hex
    /// string never matches.
    pub fn ct_eq_hex(&self, hex: &str) -> bool {
        let mut want = [0u8; 64];
        let mine = self.to_hex();
        if hex.len() != 64 {
            return false;
        }
        want.copy_from_slice(hex.as_bytes());
        mine.as_bytes().ct_eq(&want[..]).into()
    }
}

/// The set of keys a verifier accepts, by key id.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: Vec<HmacKey>,
}

impl KeyRing {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, key: HmacKey) -> Result<(), KeyError> {
        if self.get(key.id()).is_some() {
            return Err(KeyError::Duplicate(key.id().to_owned()));
        }
        self.keys.push(key);
        Ok(())
    }
    pub fn get(&self, id: &str) -> Option<&HmacKey> {
        self.keys.iter().find(|k| k.id == id)
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "d6237acac019c57a12c54147b76f9e38990931ae82ee0e13a82bb3caf803f05b";

    #[test]
    fn parses_and_redacts() {
        let k = HmacKey::from_hex("k1", &format!("{HEX}\n")).expect("key");
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&HEX[..16]), "{dbg}");
        assert!(dbg.contains("k1"));
        assert_eq!(k.to_hex_secret().as_str(), HEX);
    }

    #[test]
    fn rejects_short_bad_and_bad_ids() {
        assert!(matches!(
            HmacKey::from_hex("k1", &HEX[..62]),
            Err(KeyError::TooShort(31))
        ));
        assert!(matches!(
            HmacKey::from_hex("k1", "zz"),
            Err(KeyError::NotHex)
        ));
        assert!(matches!(
            HmacKey::from_hex("k1", "abc"),
            Err(KeyError::NotHex)
        ));
        assert!(matches!(
            HmacKey::from_hex("a;b", HEX),
            Err(KeyError::BadKeyId)
        ));
        assert!(matches!(
            HmacKey::from_hex("", HEX),
            Err(KeyError::BadKeyId)
        ));
    }

    #[test]
    fn mac_matches_python_and_compares() {
        let k = HmacKey::from_hex("k1", HEX).expect("key");
        let t = k.mac(&[b"hello ", b"world"]);
        let t2 = k.mac(&[b"hello world"]);
        assert!(t.ct_eq(&t2));
        assert!(t.ct_eq_hex(&t2.to_hex()));
        assert!(!t.ct_eq_hex(&"0".repeat(64)));
        assert!(!t.ct_eq_hex("short"));
        // Computed independently: python3 hmac.new(key, b"hello world", sha256).
        assert_eq!(
            t.to_hex(),
            "b5b6f171cd2c4a18bed2f454ec6c5d10dca3fa8bec94d519085a8a8acf13ab6e"
        );
    }

    #[test]
    fn ring_refuses_duplicates() {
        let mut r = KeyRing::new();
        r.add(HmacKey::from_hex("k1", HEX).expect("key"))
            .expect("add");
        assert!(r.add(HmacKey::from_hex("k1", HEX).expect("key")).is_err());
        assert!(r.get("k1").is_some());
        assert!(r.get("k2").is_none());
    }
}
