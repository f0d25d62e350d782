//! TSTInfo, the content a TSA signs (RFC 3161 section 2.4.2), decoded with `der`.
//!
//! Guarantees: [`parse_tst_info`] accepts only DER TSTInfo version 1 with every field
//! in schema order and nothing after the last field; genTime is a DER GeneralizedTime
//! whose fraction (allowed, no trailing zeros) is decoded by `time.rs`, because `der`'s
//! GeneralizedTime refuses fractions. serialNumber and nonce are slices of the input.
//! Extensions are noticed ([`TstInfo::has_extensions`]) but not interpreted.

use der::asn1::{AnyRef, IntRef, ObjectIdentifier, OctetStringRef};
use der::{
    Decode, DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Sequence, SliceReader, Tag,
    Writer,
};
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::TspError;
use super::time::Time;

/// TSTInfo (RFC 3161 section 2.4.2).
#[derive(Debug, Clone)]
pub struct TstInfo<'a> {
    pub policy: ObjectIdentifier,
    pub imprint_alg: AlgorithmIdentifierOwned,
    pub imprint: &'a [u8],
    /// serialNumber INTEGER contents.
    pub serial: &'a [u8],
    pub gen_time: Time,
    /// Accuracy in microseconds, when given.
    pub accuracy_us: Option<u64>,
    pub ordering: bool,
    /// nonce INTEGER contents.
    pub nonce: Option<&'a [u8]>,
    /// The `tsa` GeneralName.
    pub tsa_name: Option<GeneralName>,
    pub has_extensions: bool,
}

impl TstInfo<'_> {
    pub fn policy_string(&self) -> String {
        self.policy.to_string()
    }
}

/// GeneralizedTime with an optional fraction, and its contents as sent.
struct GenTime<'a>(Time, &'a [u8]);

impl FixedTag for GenTime<'_> {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for GenTime<'a> {
    type Error = der::Error;
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bytes = reader.read_slice(header.length())?;
        Time::from_generalized(bytes)
            .map(|t| GenTime(t, bytes))
            .ok_or_else(|| Tag::GeneralizedTime.value_error().into())
    }
}

impl EncodeValue for GenTime<'_> {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.1.len())
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.1)
    }
}

/// An INTEGER's contents octets as sent (checked to be DER by `der`'s `IntRef`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IntBytes<'a>(pub &'a [u8]);

impl FixedTag for IntBytes<'_> {
    const TAG: Tag = Tag::Integer;
}

impl<'a> DecodeValue<'a> for IntBytes<'a> {
    type Error = der::Error;
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bytes = reader.read_slice(header.length())?;
        IntRef::decode_value(&mut SliceReader::new(bytes)?, header)?;
        Ok(IntBytes(bytes))
    }
}

impl EncodeValue for IntBytes<'_> {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.0)
    }
}

#[derive(Sequence)]
struct MessageImprint<'a> {
    alg: AlgorithmIdentifierOwned,
    hash: &'a OctetStringRef,
}

#[derive(Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<u64>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u64>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u64>,
}

#[derive(Sequence)]
struct RawTstInfo<'a> {
    version: u64,
    policy: ObjectIdentifier,
    imprint: MessageImprint<'a>,
    serial: IntBytes<'a>,
    gen_time: GenTime<'a>,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<IntBytes<'a>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

/// Parses a DER TSTInfo.
pub fn parse_tst_info(der: &[u8]) -> Result<TstInfo<'_>, TspError> {
    // The version is looked at first, so a TSTInfo v2 is `unsupported`, not malformed.
    let version = AnyRef::from_der(der)
        .ok()
        .and_then(|seq| {
            let mut r = SliceReader::new(seq.value()).ok()?;
            u64::decode(&mut r).ok()
        })
        .unwrap_or(1);
    if version != 1 {
        return Err(TspError::Unsupported(format!("TSTInfo version {version}")));
    }
    let raw = RawTstInfo::from_der(der).map_err(|source| TspError::Malformed {
        part: "TSTInfo",
        source,
    })?;
    let accuracy_us = raw.accuracy.map(|a| {
        [(a.seconds, 1_000_000), (a.millis, 1_000), (a.micros, 1)]
            .iter()
            .fold(0u64, |us, (n, scale)| {
                us.saturating_add(n.unwrap_or(0).saturating_mul(*scale))
            })
    });
    Ok(TstInfo {
        policy: raw.policy,
        imprint_alg: raw.imprint.alg,
        imprint: raw.imprint.hash.as_bytes(),
        serial: raw.serial.0,
        gen_time: raw.gen_time.0,
        accuracy_us,
        ordering: raw.ordering,
        nonce: raw.nonce.map(|n| n.0),
        tsa_name: raw.tsa,
        has_extensions: raw.extensions.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER TLV with a short-form length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, u8::try_from(content.len()).expect("short")];
        v.extend_from_slice(content);
        v
    }

    const SHA256: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

    /// A TSTInfo with `extra` appended after genTime.
    fn tst(version: u8, gen_time: (u8, &[u8]), extra: &[u8]) -> Vec<u8> {
        let mut alg = tlv(0x06, &SHA256);
        alg.extend(tlv(0x05, &[]));
        let mut mi = tlv(0x30, &alg);
        mi.extend(tlv(0x04, &[9; 32]));
        let mut body = tlv(0x02, &[version]);
        body.extend(tlv(0x06, &[0x2a, 0x03]));
        body.extend(tlv(0x30, &mi));
        body.extend(tlv(0x02, &[0x00, 0x80]));
        body.extend(tlv(gen_time.0, gen_time.1));
        body.extend_from_slice(extra);
        tlv(0x30, &body)
    }

    const GT: (u8, &[u8]) = (0x18, b"20261121210315.05Z");

    #[test]
    fn all_fields() {
        let mut acc = tlv(0x02, &[2]);
        acc.extend(tlv(0x80, &[5]));
        acc.extend(tlv(0x81, &[7]));
        let mut extra = tlv(0x30, &acc);
        extra.extend(tlv(0x01, &[0xff]));
        extra.extend(tlv(0x02, &[0x12, 0x34]));
        let name = tlv(0xa4, &tlv(0x30, &[]));
        extra.extend(tlv(0xa0, &name));
        let ext = tlv(0x30, &[tlv(0x06, &[0x2a, 0x03]), tlv(0x04, &[])].concat());
        extra.extend(tlv(0xa1, &ext));
        let der = tst(1, GT, &extra);
        let t = parse_tst_info(&der).expect("parse");
        assert_eq!(t.policy_string(), "1.2.3");
        assert_eq!(t.imprint_alg.oid.as_bytes(), SHA256);
        assert_eq!(t.imprint, [9u8; 32]);
        assert_eq!(t.serial, [0x00, 0x80]);
        assert_eq!(t.gen_time.to_string(), "2026-11-21T21:03:15.05Z");
        assert_eq!(t.accuracy_us, Some(2_005_007));
        assert!(t.ordering && t.has_extensions);
        assert_eq!(t.nonce, Some(&[0x12, 0x34][..]));
        assert!(matches!(t.tsa_name, Some(GeneralName::DirectoryName(_))));
        let der = tst(1, GT, &[]);
        let minimal = parse_tst_info(&der).expect("minimal");
        assert_eq!(
            (minimal.accuracy_us, minimal.ordering, minimal.nonce),
            (None, false, None)
        );
    }

    #[test]
    fn rejects_what_rfc3161_does_not_allow() {
        let kind = |der: &[u8]| parse_tst_info(der).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(kind(&tst(2, GT, &[])), Err("unsupported"));
        assert_eq!(
            kind(&tst(1, (0x17, b"261121210315Z"), &[])),
            Err("malformed")
        );
        assert_eq!(
            kind(&tst(1, (0x18, b"20261121210315.50Z"), &[])),
            Err("malformed")
        );
        assert_eq!(kind(&tst(1, GT, &tlv(0x04, &[]))), Err("malformed"));
        let nonce_after_name = [tlv(0xa0, &tlv(0xa4, &tlv(0x30, &[]))), tlv(0x02, &[1])].concat();
        assert_eq!(kind(&tst(1, GT, &nonce_after_name)), Err("malformed"));
        let mut trailing = tst(1, GT, &[]);
        trailing.push(0);
        assert_eq!(kind(&trailing), Err("malformed"));
    }
}
