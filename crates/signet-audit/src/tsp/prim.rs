//! Decoders for DER primitive values (methods on [`Tlv`]).
//!
//! Guarantees: each decoder checks the tag and the DER rules for its type (X.690
//! section 8 and 10/11) and returns slices of the original bytes:
//! - INTEGER: non-empty, minimal two's complement (no redundant leading `00`/`ff`);
//! - BOOLEAN: exactly `00` or `ff`;
//! - BIT STRING: unused-bit count 0..=7, zero for an empty string, unused bits zero;
//! - OBJECT IDENTIFIER: non-empty, no `80` sub-identifier padding, last octet final;
//! - NULL: empty.

use super::der::{DerError, Tlv, tag};

impl<'a> Tlv<'a> {
    /// INTEGER contents, checked for minimal two's-complement form.
    pub fn integer(&self) -> Result<&'a [u8], DerError> {
        let v = self.value;
        let redundant =
            v.len() > 1 && ((v[0] == 0 && v[1] & 0x80 == 0) || (v[0] == 0xff && v[1] & 0x80 != 0));
        if self.tag != tag::INTEGER || v.is_empty() || redundant {
            return Err(self.invalid("integer"));
        }
        Ok(v)
    }

    /// A non-negative INTEGER that fits in a `u64`.
    pub fn small_uint(&self) -> Result<u64, DerError> {
        let v = self.integer()?;
        let v = if v[0] == 0 { &v[1..] } else { v };
        if self.value[0] & 0x80 != 0 || v.len() > 8 {
            return Err(self.invalid("small non-negative integer"));
        }
        Ok(v.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
    }

    /// BOOLEAN in DER form (`0x00` or `0xff`).
    pub fn boolean(&self) -> Result<bool, DerError> {
        match (self.tag, self.value) {
            (tag::BOOLEAN, [0x00]) => Ok(false),
            (tag::BOOLEAN, [0xff]) => Ok(true),
            _ => Err(self.invalid("boolean")),
        }
    }

    /// BIT STRING as `(unused bit count, bytes)`, with the unused bits zero.
    pub fn bit_string(&self) -> Result<(u8, &'a [u8]), DerError> {
        let (&unused, bytes) = self.value.split_first().ok_or(self.invalid("bit string"))?;
        if self.tag != tag::BIT_STRING || unused > 7 || (bytes.is_empty() && unused != 0) {
            return Err(self.invalid("bit string"));
        }
        let mask = ((1u16 << unused) - 1) as u8;
        if bytes.last().is_some_and(|b| b & mask != 0) {
            return Err(self.invalid("bit string"));
        }
        Ok((unused, bytes))
    }

    /// BIT STRING holding whole octets (keys, signatures).
    pub fn bit_string_octets(&self) -> Result<&'a [u8], DerError> {
        match self.bit_string()? {
            (0, b) => Ok(b),
            _ => Err(self.invalid("bit string with unused bits")),
        }
    }

    /// OBJECT IDENTIFIER contents, checked for well-formed sub-identifiers.
    pub fn oid(&self) -> Result<&'a [u8], DerError> {
        let v = self.value;
        let mut first = true;
        for (i, b) in v.iter().enumerate() {
            if first && *b == 0x80 {
                return Err(self.invalid("object identifier"));
            }
            first = b & 0x80 == 0;
            if i + 1 == v.len() && !first {
                return Err(self.invalid("object identifier"));
            }
        }
        if self.tag != tag::OID || v.is_empty() {
            return Err(self.invalid("object identifier"));
        }
        Ok(v)
    }

    /// NULL (empty contents).
    pub fn null(&self) -> Result<(), DerError> {
        if self.tag == tag::NULL && self.value.is_empty() {
            Ok(())
        } else {
            Err(self.invalid("null"))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tsp::der::{Reader, parse_single, tag};
    use proptest::prelude::*;

    #[test]
    fn decoders_enforce_der() {
        let one = |b: &'static [u8]| parse_single(b, b[0]).expect("tlv");
        assert_eq!(
            one(&[0x02, 0x02, 0x00, 0x80]).integer(),
            Ok(&[0x00, 0x80][..])
        );
        assert_eq!(one(&[0x02, 0x01, 0xff]).integer(), Ok(&[0xff][..]));
        assert!(one(&[0x02, 0x02, 0xff, 0x80]).integer().is_err());
        assert!(one(&[0x02, 0x00]).integer().is_err());
        assert_eq!(one(&[0x02, 0x02, 0x01, 0x00]).small_uint(), Ok(256));
        assert!(one(&[0x02, 0x01, 0x80]).small_uint().is_err());
        assert!(
            one(&[0x02, 0x0a, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0])
                .small_uint()
                .is_err()
        );
        assert_eq!(one(&[0x01, 0x01, 0x00]).boolean(), Ok(false));
        assert_eq!(
            one(&[0x03, 0x02, 0x07, 0x80]).bit_string(),
            Ok((7, &[0x80][..]))
        );
        assert!(one(&[0x03, 0x02, 0x07, 0x80]).bit_string_octets().is_err());
        assert!(one(&[0x03, 0x01, 0x01]).bit_string().is_err());
        assert!(one(&[0x03, 0x02, 0x08, 0x00]).bit_string().is_err());
        assert!(one(&[0x03, 0x00]).bit_string().is_err());
        assert!(one(&[0x06, 0x02, 0x80, 0x01]).oid().is_err());
        assert!(one(&[0x06, 0x00]).oid().is_err());
        assert!(one(&[0x05, 0x00]).null().is_ok());
        assert!(one(&[0x05, 0x01, 0x00]).null().is_err());
        assert!(
            one(&[0x04, 0x01, 0x01]).integer().is_err(),
            "tag is checked"
        );
        let bad_int = parse_single(&[0x02, 0x02, 0x00, 0x01], tag::INTEGER).expect("tlv");
        assert!(bad_int.integer().is_err());
        let bad_bool = parse_single(&[0x01, 0x01, 0x01], tag::BOOLEAN).expect("tlv");
        assert!(bad_bool.boolean().is_err());
        let bad_bits = parse_single(&[0x03, 0x02, 0x07, 0x81], tag::BIT_STRING).expect("tlv");
        assert!(bad_bits.bit_string().is_err());
        let bad_oid = parse_single(&[0x06, 0x02, 0x2a, 0x86], tag::OID).expect("tlv");
        assert!(bad_oid.oid().is_err());
    }

    proptest! {
        #[test]
        fn never_panic(buf in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut r = Reader::new(&buf);
            while let Ok(t) = r.read_any() {
                let _ = (t.integer(), t.boolean(), t.bit_string(), t.oid(), t.small_uint(), t.null());
                let _ = (t.retagged(tag::INTEGER).small_uint(), t.bit_string_octets());
            }
        }
    }
}
