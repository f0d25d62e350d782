//! X.509 certificates, read as far as a timestamp verifier needs them (RFC 5280).
//!
//! Guarantees:
//! - [`Certificate::parse`] accepts one DER certificate with nothing after it, checks
//!   that the inner and outer signature algorithms are byte-identical, and that no
//!   extension appears twice. Everything is borrowed from the input bytes.
//! - Extensions that matter for a TSA chain are decoded: basicConstraints, keyUsage,
//!   extKeyUsage (with its criticality), subjectKeyIdentifier, subjectAltName.
//!   authorityKeyIdentifier and certificatePolicies are recognised but not
//!   interpreted; any other extension marked critical sets
//!   [`Certificate::unknown_critical`], which the chain check refuses.
//! - Names are compared as DER bytes; [`name_to_string`] is for people only.

use super::crypto::{self, AlgId, SigError, Spki};
use super::der::{DerError, Reader, Tlv, parse_single, tag};
use super::oid;
use super::time::Time;

/// keyUsage bits (bit 0 is `digitalSignature`).
pub const KU_DIGITAL_SIGNATURE: u16 = 1 << 0;
pub const KU_NON_REPUDIATION: u16 = 1 << 1;
pub const KU_KEY_CERT_SIGN: u16 = 1 << 5;

/// basicConstraints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicConstraints {
    pub ca: bool,
    pub path_len: Option<u64>,
}

/// extKeyUsage: the purposes and whether the extension is critical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtKeyUsage<'a> {
    pub critical: bool,
    pub purposes: Vec<&'a [u8]>,
}

/// A parsed certificate borrowing from its DER.
#[derive(Debug, Clone)]
pub struct Certificate<'a> {
    pub raw: &'a [u8],
    /// The TBSCertificate encoding: the signed bytes.
    pub tbs: &'a [u8],
    /// serialNumber INTEGER contents.
    pub serial: &'a [u8],
    /// Issuer and subject Name encodings (whole SEQUENCE TLVs).
    pub issuer: &'a [u8],
    pub subject: &'a [u8],
    pub not_before: Time,
    pub not_after: Time,
    pub spki: Spki<'a>,
    pub sig_alg: AlgId<'a>,
    pub signature: &'a [u8],
    pub basic_constraints: Option<BasicConstraints>,
    pub key_usage: Option<u16>,
    pub ext_key_usage: Option<ExtKeyUsage<'a>>,
    pub subject_key_id: Option<&'a [u8]>,
    /// subjectAltName GeneralNames contents (the entries, concatenated).
    pub subject_alt_names: Option<&'a [u8]>,
    /// A critical extension this module does not understand is present.
    pub unknown_critical: bool,
}

impl<'a> Certificate<'a> {
    /// Parses one DER certificate spanning all of `der`.
    pub fn parse(der: &'a [u8]) -> Result<Certificate<'a>, DerError> {
        let outer = parse_single(der, tag::SEQUENCE)?;
        let mut c = outer.reader()?;
        let tbs = c.read(tag::SEQUENCE)?;
        let sig_alg = AlgId::read(&mut c)?;
        let signature = c.read(tag::BIT_STRING)?.bit_string_octets()?;
        c.finish()?;

        let mut t = tbs.reader()?;
        if let Some(v) = t.read_optional(tag::ctx(0))? {
            let mut vr = v.reader()?;
            if vr.read(tag::INTEGER)?.small_uint()? > 2 {
                return Err(DerError::Invalid {
                    what: "certificate version",
                    at: v.offset,
                });
            }
            vr.finish()?;
        }
        let serial = t.read(tag::INTEGER)?.integer()?;
        let inner_alg = AlgId::read(&mut t)?;
        if inner_alg.raw != sig_alg.raw {
            return Err(DerError::Invalid {
                what: "signature algorithm mismatch",
                at: tbs.offset,
            });
        }
        let issuer = check_name(t.read(tag::SEQUENCE)?)?;
        let mut v = t.nested(tag::SEQUENCE)?;
        let not_before = Time::from_der(&v.read_any()?)?;
        let not_after = Time::from_der(&v.read_any()?)?;
        v.finish()?;
        let subject = check_name(t.read(tag::SEQUENCE)?)?;
        let spki = Spki::read(&mut t)?;
        t.read_optional(tag::ctx_prim(1))?;
        t.read_optional(tag::ctx_prim(2))?;
        let mut cert = Certificate {
            raw: der,
            tbs: tbs.raw,
            serial,
            issuer: issuer.raw,
            subject: subject.raw,
            not_before,
            not_after,
            spki,
            sig_alg,
            signature,
            basic_constraints: None,
            key_usage: None,
            ext_key_usage: None,
            subject_key_id: None,
            subject_alt_names: None,
            unknown_critical: false,
        };
        if let Some(e) = t.read_optional(tag::ctx(3))? {
            let mut wrapper = e.reader()?;
            cert.extensions(wrapper.nested(tag::SEQUENCE)?)?;
            wrapper.finish()?;
        }
        t.finish()?;
        Ok(cert)
    }

    fn extensions(&mut self, mut exts: Reader<'a>) -> Result<(), DerError> {
        let mut seen: Vec<&[u8]> = Vec::new();
        while !exts.is_empty() {
            let ext = exts.read(tag::SEQUENCE)?;
            let mut e = ext.reader()?;
            let id = e.read(tag::OID)?.oid()?;
            let critical = match e.read_optional(tag::BOOLEAN)? {
                Some(b) => b.boolean()?,
                None => false,
            };
            let value = e.read(tag::OCTET_STRING)?;
            e.finish()?;
            if seen.contains(&id) {
                return Err(DerError::Invalid {
                    what: "duplicate extension",
                    at: ext.offset,
                });
            }
            seen.push(id);
            let inner = parse_single(value.value, value.value.first().copied().unwrap_or(0))
                .map_err(|_| DerError::Invalid {
                    what: "extension value",
                    at: value.offset,
                })?;
            match id {
                oid::BASIC_CONSTRAINTS => {
                    let mut r = reader_of(&inner, tag::SEQUENCE)?;
                    let ca = r
                        .read_optional(tag::BOOLEAN)?
                        .map(|b| b.boolean())
                        .transpose()?
                        .unwrap_or(false);
                    let path_len = r
                        .read_optional(tag::INTEGER)?
                        .map(|i| i.small_uint())
                        .transpose()?;
                    r.finish()?;
                    self.basic_constraints = Some(BasicConstraints { ca, path_len });
                }
                oid::KEY_USAGE => {
                    let (_, bits) = inner.bit_string()?;
                    let get = |i: usize| bits.get(i).map_or(0, |b| u16::from(b.reverse_bits()));
                    self.key_usage = Some(get(0) | get(1) << 8);
                }
                oid::EXT_KEY_USAGE => {
                    let mut r = reader_of(&inner, tag::SEQUENCE)?;
                    let mut purposes = Vec::new();
                    while !r.is_empty() {
                        purposes.push(r.read(tag::OID)?.oid()?);
                    }
                    self.ext_key_usage = Some(ExtKeyUsage { critical, purposes });
                }
                oid::SUBJECT_KEY_ID if inner.tag == tag::OCTET_STRING => {
                    self.subject_key_id = Some(inner.value)
                }
                oid::SUBJECT_ALT_NAME => {
                    self.subject_alt_names =
                        Some(reader_of(&inner, tag::SEQUENCE).map(|_| inner.value)?)
                }
                oid::AUTHORITY_KEY_ID | oid::CERT_POLICIES => {}
                _ => self.unknown_critical |= critical,
            }
        }
        Ok(())
    }

    /// The subject for people (`O=Local Test, CN=Local Test TSA`).
    pub fn subject_string(&self) -> String {
        name_to_string(self.subject)
    }

    /// `notBefore <= t <= notAfter`.
    pub fn valid_at(&self, t: Time) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// Checks this certificate's signature with `issuer`'s public key.
    pub fn verify_issued_by(&self, issuer: &Certificate<'_>) -> Result<(), SigError> {
        crypto::verify(&issuer.spki, &self.sig_alg, None, self.tbs, self.signature)
    }

    /// Whether the GeneralName encoding `gn` names this certificate's subject: a
    /// directoryName equal to the subject, or an identical subjectAltName entry.
    pub fn has_name(&self, gn: &[u8]) -> bool {
        if let Ok(t) = parse_single(gn, tag::ctx(4))
            && t.value == self.subject
        {
            return true;
        }
        let mut r = Reader::new(self.subject_alt_names.unwrap_or_default());
        std::iter::from_fn(|| r.read_any().ok()).any(|n| n.raw == gn)
    }
}

fn reader_of<'a>(t: &Tlv<'a>, expected: u8) -> Result<Reader<'a>, DerError> {
    if t.tag != expected {
        return Err(DerError::UnexpectedTag {
            expected,
            found: t.tag,
            at: t.offset,
        });
    }
    t.reader()
}

/// Checks Name structure: SEQUENCE OF SET OF SEQUENCE { OID, value }.
fn check_name(name: Tlv<'_>) -> Result<Tlv<'_>, DerError> {
    let mut rdns = name.reader()?;
    while !rdns.is_empty() {
        let mut set = rdns.nested(tag::SET)?;
        while !set.is_empty() {
            let mut atv = set.nested(tag::SEQUENCE)?;
            atv.read(tag::OID)?.oid()?;
            atv.read_any()?;
            atv.finish()?;
        }
    }
    Ok(name)
}

/// A Name (whole SEQUENCE encoding) for people; `?` when it cannot be read.
pub fn name_to_string(name: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut walk = || -> Result<(), DerError> {
        let mut rdns = parse_single(name, tag::SEQUENCE)?.reader()?;
        while !rdns.is_empty() {
            let mut set = rdns.nested(tag::SET)?;
            while !set.is_empty() {
                let mut atv = set.nested(tag::SEQUENCE)?;
                let id = atv.read(tag::OID)?.oid()?;
                let v = atv.read_any()?;
                let label = match id {
                    oid::AT_CN => "CN".to_owned(),
                    oid::AT_O => "O".to_owned(),
                    oid::AT_OU => "OU".to_owned(),
                    oid::AT_C => "C".to_owned(),
                    oid::AT_L => "L".to_owned(),
                    oid::AT_ST => "ST".to_owned(),
                    oid::AT_SERIAL => "serialNumber".to_owned(),
                    other => oid::to_dotted(other),
                };
                let text = match v.tag {
                    0x0c | 0x13 | 0x16 | 0x14 => String::from_utf8_lossy(v.value).into_owned(),
                    0x1e => char::decode_utf16(
                        v.value
                            .chunks(2)
                            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])),
                    )
                    .map(|c| c.unwrap_or('\u{fffd}'))
                    .collect(),
                    _ => format!("#{}", crate::util::to_hex(v.raw)),
                };
                parts.push(format!("{label}={text}"));
            }
        }
        Ok(())
    };
    match walk() {
        Ok(()) => parts.join(", "),
        Err(_) => "?".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsp::pem;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../tests/fixtures/signet-0.1/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let pem = std::fs::read(path).expect("fixture");
        pem::certificates(&pem).expect("pem").remove(0)
    }

    #[test]
    fn parses_the_signet_tsa_and_its_root() {
        let (tsa_der, ca_der) = (fixture("tsa.crt"), fixture("tsa-ca.crt"));
        let tsa = Certificate::parse(&tsa_der).expect("tsa");
        let ca = Certificate::parse(&ca_der).expect("ca");
        assert_eq!(tsa.subject_string(), "CN=Local Test TSA");
        assert_eq!(name_to_string(tsa.issuer), "CN=Local Test TSA Root");
        assert_eq!(tsa.issuer, ca.subject);
        assert_eq!(
            tsa.basic_constraints,
            Some(BasicConstraints {
                ca: false,
                path_len: None
            })
        );
        assert_eq!(
            ca.basic_constraints,
            Some(BasicConstraints {
                ca: true,
                path_len: None
            })
        );
        assert_eq!(tsa.key_usage, Some(KU_DIGITAL_SIGNATURE));
        assert_eq!(
            ca.key_usage.map(|k| k & KU_KEY_CERT_SIGN),
            Some(KU_KEY_CERT_SIGN)
        );
        assert_eq!(
            tsa.ext_key_usage,
            Some(ExtKeyUsage {
                critical: true,
                purposes: vec![oid::KP_TIME_STAMPING]
            })
        );
        assert_eq!(tsa.subject_key_id.map(|k| k.len()), Some(20));
        assert!(!tsa.unknown_critical);
        assert_eq!(tsa.not_before.to_string(), "2026-11-21T21:03:07Z");
        assert_eq!(tsa.verify_issued_by(&ca), Ok(()));
        assert_eq!(ca.verify_issued_by(&ca), Ok(()));
        assert_eq!(ca.verify_issued_by(&tsa), Err(SigError::Invalid));
        let mut dir_name = vec![0xa4, tsa.subject.len() as u8];
        dir_name.extend_from_slice(tsa.subject);
        assert!(tsa.has_name(&dir_name));
        assert!(!ca.has_name(&dir_name));
    }

    #[test]
    fn rejects_damaged_certificates() {
        let der = fixture("tsa.crt");
        assert!(Certificate::parse(&der[..der.len() - 1]).is_err());
        let mut longer = der.clone();
        longer.push(0);
        assert!(Certificate::parse(&longer).is_err());
        // The inner signature algorithm (sha256WithRSA) changed to sha384WithRSA.
        let pos = der
            .windows(9)
            .position(|w| w == oid::SHA256_WITH_RSA)
            .expect("alg");
        let mut swapped = der.clone();
        swapped[pos + 8] = 0x0c;
        let e = Certificate::parse(&swapped)
            .expect_err("mismatch")
            .to_string();
        assert!(e.contains("signature algorithm mismatch"), "{e}");
    }
}
