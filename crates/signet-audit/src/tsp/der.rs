//! A small strict DER reader (and the two-function writer the request needs).
//!
//! Guarantees:
//! - Only DER is accepted: single-byte tags (no high tag numbers, no tag 0), definite
//!   lengths in minimal form (short form below 128, no leading zero length octets), at
//!   most 4 length octets, no indefinite lengths, nothing past the enclosing value.
//! - Every value is handed out as slices into the original bytes ([`Tlv::raw`] is the
//!   whole encoding, [`Tlv::value`] the contents), so callers keep a TSA's exact bytes
//!   and can re-tag `[0] IMPLICIT` signed attributes as `SET OF` to check a signature.
//! - Nesting is bounded by [`MAX_DEPTH`]; errors carry the absolute byte offset; no
//!   input makes the reader panic.
//!
//! Assumes: the caller walks the schema it expects; this module knows no ASN.1 types.
//! Primitive decoders (INTEGER, BOOLEAN, BIT STRING, OID, NULL) are in `prim.rs`, OID
//! text conversions in `oid.rs`.

/// Deepest nesting of constructed values accepted.
pub const MAX_DEPTH: usize = 32;

/// Universal tags used by the `tsp` module.
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// Context-specific `[n]`, constructed.
    pub const fn ctx(n: u8) -> u8 {
        0xa0 | n
    }
    /// Context-specific `[n]`, primitive.
    pub const fn ctx_prim(n: u8) -> u8 {
        0x80 | n
    }
}

/// Why bytes are not the DER that was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    #[error("truncated value at byte {0}")]
    Truncated(usize),
    #[error("indefinite length at byte {0}")]
    Indefinite(usize),
    #[error("non-minimal length at byte {0}")]
    NonMinimalLength(usize),
    #[error("length too large at byte {0}")]
    LengthTooLarge(usize),
    #[error("unsupported tag form at byte {0}")]
    BadTag(usize),
    #[error("expected tag {expected:#04x}, found {found:#04x} at byte {at}")]
    UnexpectedTag { expected: u8, found: u8, at: usize },
    #[error("missing value (tag {expected:#04x}) at byte {at}")]
    Missing { expected: u8, at: usize },
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("trailing data at byte {0}")]
    Trailing(usize),
    #[error("invalid {what} at byte {at}")]
    Invalid { what: &'static str, at: usize },
}

/// One tag-length-value, borrowed from the original input.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    /// The contents octets.
    pub value: &'a [u8],
    /// The whole encoding: tag, length and contents.
    pub raw: &'a [u8],
    /// Absolute offset of the tag byte in the outermost input.
    pub offset: usize,
    depth: usize,
}

/// Reads consecutive TLVs from a region of the input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
    /// Absolute offset of `buf[0]` in the outermost input.
    base: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole input (depth 0).
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            end: buf.len(),
            base: 0,
            depth: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    /// The tag of the next value, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        if self.is_empty() {
            None
        } else {
            self.buf.get(self.pos).copied()
        }
    }

    /// Absolute offset of the next value.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The next value, whatever its tag.
    pub fn read_any(&mut self) -> Result<Tlv<'a>, DerError> {
        let at = self.pos;
        let abs = self.base + at;
        let head = |i: usize| -> Result<u8, DerError> {
            if at + i < self.end {
                Ok(self.buf[at + i])
            } else {
                Err(DerError::Truncated(abs))
            }
        };
        let t = head(0)?;
        if t & 0x1f == 0x1f || t == 0 {
            return Err(DerError::BadTag(abs));
        }
        let l0 = head(1)?;
        let (hdr, len) = if l0 < 0x80 {
            (2, l0 as usize)
        } else if l0 == 0x80 {
            return Err(DerError::Indefinite(abs));
        } else {
            let n = (l0 & 0x7f) as usize;
            if n > 4 {
                return Err(DerError::LengthTooLarge(abs));
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | head(2 + i)? as usize;
            }
            if head(2)? == 0 || len < 0x80 {
                return Err(DerError::NonMinimalLength(abs));
            }
            (2 + n, len)
        };
        let start = at + hdr;
        let stop = start
            .checked_add(len)
            .filter(|&s| s <= self.end)
            .ok_or(DerError::Truncated(abs))?;
        self.pos = stop;
        Ok(Tlv {
            tag: t,
            value: &self.buf[start..stop],
            raw: &self.buf[at..stop],
            offset: abs,
            depth: self.depth,
        })
    }

    /// The next value, which must have tag `expected`.
    pub fn read(&mut self, expected: u8) -> Result<Tlv<'a>, DerError> {
        match self.peek_tag() {
            None => Err(DerError::Missing {
                expected,
                at: self.offset(),
            }),
            Some(found) if found != expected => Err(DerError::UnexpectedTag {
                expected,
                found,
                at: self.offset(),
            }),
            Some(_) => self.read_any(),
        }
    }

    /// The next value if it has tag `t`, else nothing is consumed.
    pub fn read_optional(&mut self, t: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(t) {
            self.read(t).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads a constructed value with tag `t` and returns a reader over its contents.
    pub fn nested(&mut self, t: u8) -> Result<Reader<'a>, DerError> {
        self.read(t)?.reader()
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DerError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DerError::Trailing(self.offset()))
        }
    }
}

impl<'a> Tlv<'a> {
    /// A reader over the contents of this (constructed) value.
    pub fn reader(&self) -> Result<Reader<'a>, DerError> {
        if self.tag & 0x20 == 0 {
            return Err(DerError::Invalid {
                what: "primitive where constructed expected",
                at: self.offset,
            });
        }
        if self.depth + 1 > MAX_DEPTH {
            return Err(DerError::TooDeep);
        }
        let hdr = self.raw.len() - self.value.len();
        Ok(Reader {
            buf: self.raw,
            pos: hdr,
            end: self.raw.len(),
            base: self.offset,
            depth: self.depth + 1,
        })
    }

    pub(super) fn invalid(&self, what: &'static str) -> DerError {
        DerError::Invalid {
            what,
            at: self.offset,
        }
    }

    /// The same value read as if it had tag `t` (for `[n] IMPLICIT` primitives).
    pub fn retagged(&self, t: u8) -> Tlv<'a> {
        Tlv { tag: t, ..*self }
    }
}

/// Parses exactly one value with tag `t` spanning all of `buf`.
pub fn parse_single(buf: &[u8], t: u8) -> Result<Tlv<'_>, DerError> {
    let mut r = Reader::new(buf);
    let v = r.read(t)?;
    r.finish()?;
    Ok(v)
}

/// Appends the DER encoding of `t`, the length of `content`, and `content`.
pub fn write_tlv(t: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(t);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// The DER encoding of one value.
pub fn tlv(t: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    write_tlv(t, content, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_nested_values_with_offsets() {
        let buf = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa];
        let seq = parse_single(&buf, tag::SEQUENCE).expect("seq");
        let mut r = seq.reader().expect("reader");
        assert_eq!(r.read(tag::INTEGER).expect("int").small_uint(), Ok(5));
        let o = r.read(tag::OCTET_STRING).expect("octets");
        assert_eq!((o.value, o.raw, o.offset), (&[0xaa][..], &buf[5..], 5));
        r.finish().expect("finished");
    }

    #[test]
    fn rejects_non_der() {
        let cases: &[(&[u8], &str)] = &[
            (&[0x30, 0x80, 0x00, 0x00], "indefinite"),
            (&[0x04, 0x81, 0x01, 0x00], "non-minimal"),
            (&[0x04, 0x82, 0x00, 0x80], "non-minimal"),
            (&[0x04, 0x85, 1, 0, 0, 0, 0], "too large"),
            (&[0x04, 0x03, 0x00], "truncated"),
            (&[0x04, 0x00, 0x00], "trailing"),
            (&[0x1f, 0x01, 0x00], "tag form"),
            (&[0x00, 0x00], "tag form"),
            (&[], "truncated"),
        ];
        for (buf, what) in cases {
            let mut r = Reader::new(buf);
            let e = r
                .read_any()
                .and_then(|_| r.finish())
                .expect_err(what)
                .to_string();
            assert!(e.contains(what), "{what}: {e}");
        }
        assert!(parse_single(&[0x30, 0x00], tag::OCTET_STRING).is_err());
        assert!(
            parse_single(&[], tag::OCTET_STRING)
                .expect_err("empty")
                .to_string()
                .contains("missing")
        );
    }

    #[test]
    fn depth_is_bounded() {
        let mut buf = vec![0x05, 0x00];
        for _ in 0..(MAX_DEPTH + 2) {
            buf = tlv(tag::SEQUENCE, &buf);
        }
        let mut t = parse_single(&buf, tag::SEQUENCE).expect("outer");
        let mut err = None;
        for _ in 0..(MAX_DEPTH + 2) {
            match t.reader().and_then(|mut r| r.read_any()) {
                Ok(inner) => t = inner,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert_eq!(err, Some(DerError::TooDeep));
    }

    #[test]
    fn writer_uses_minimal_lengths() {
        assert_eq!(tlv(0x04, &[0; 3])[..2], [0x04, 0x03]);
        assert_eq!(tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
        let big = tlv(0x04, &[7; 300]);
        assert_eq!(parse_single(&big, 0x04).expect("parse").value.len(), 300);
    }

    proptest! {
        #[test]
        fn never_panics(buf in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&buf);
            while let Ok(t) = r.read_any() {
                if let Ok(mut inner) = t.reader() {
                    let _ = inner.read_any();
                }
            }
        }
    }
}
