//! X.509 certificates for a timestamp verifier, on `x509-cert` (RFC 5280).
//!
//! Guarantees:
//! - [`Certificate::parse`] accepts one DER certificate with nothing after it (strict
//!   DER through `der`), keeps its original bytes ([`Certificate::raw`]) and checks
//!   that the inner and outer signature algorithms are identical.
//! - The extensions RFC 3161 section 2.3 cares about are read: extKeyUsage (with its
//!   criticality), keyUsage, subjectKeyIdentifier, subjectAltName. A repeated
//!   extension is refused. Path rules (basicConstraints, unknown critical extensions,
//!   signatures) are `rustls-webpki`'s, in `chain.rs`.
//! - Names are compared as decoded DER values; [`name_to_string`] is for people only.

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{KeyUsage, SubjectAltName, SubjectKeyIdentifier};
use x509_cert::name::Name;

use super::oid;
use super::time::Time;

/// A parsed certificate and the bytes it was parsed from.
#[derive(Debug, Clone)]
pub struct Certificate<'a> {
    pub raw: &'a [u8],
    pub cert: x509_cert::Certificate,
}

/// extKeyUsage: the purposes and whether the extension is critical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtKeyUsage {
    pub critical: bool,
    pub purposes: Vec<ObjectIdentifier>,
}

impl<'a> Certificate<'a> {
    /// Parses one DER certificate spanning all of `der`.
    pub fn parse(der: &'a [u8]) -> Result<Certificate<'a>, der::Error> {
        let cert = x509_cert::Certificate::from_der(der)?;
        if cert.signature_algorithm() != cert.tbs_certificate().signature() {
            return Err(der::Error::new(
                der::ErrorKind::Value { tag: Tag::Sequence },
                der::Length::ZERO,
            ));
        }
        let mut seen: Vec<&ObjectIdentifier> = Vec::new();
        for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
            if seen.contains(&&ext.extn_id) {
                return Err(der::Error::new(
                    der::ErrorKind::Value {
                        tag: Tag::ObjectIdentifier,
                    },
                    der::Length::ZERO,
                ));
            }
            seen.push(&ext.extn_id);
        }
        Ok(Certificate { raw: der, cert })
    }

    pub fn issuer(&self) -> &Name {
        self.cert.tbs_certificate().issuer()
    }

    pub fn subject(&self) -> &Name {
        self.cert.tbs_certificate().subject()
    }

    /// serialNumber INTEGER contents.
    pub fn serial(&self) -> &[u8] {
        self.cert.tbs_certificate().serial_number().as_bytes()
    }

    /// The subject for people (`O=Local Test, CN=Local Test TSA`).
    pub fn subject_string(&self) -> String {
        name_to_string(self.subject())
    }

    pub fn not_before(&self) -> Time {
        Time::from_x509(&self.cert.tbs_certificate().validity().not_before)
    }

    pub fn not_after(&self) -> Time {
        Time::from_x509(&self.cert.tbs_certificate().validity().not_after)
    }

    /// `notBefore <= t <= notAfter`.
    pub fn valid_at(&self, t: Time) -> bool {
        self.not_before() <= t && t <= self.not_after()
    }

    pub fn ext_key_usage(&self) -> Result<Option<ExtKeyUsage>, der::Error> {
        let tbs = self.cert.tbs_certificate();
        Ok(tbs
            .get_extension::<x509_cert::ext::pkix::ExtendedKeyUsage>()?
            .map(|(critical, eku)| ExtKeyUsage {
                critical,
                purposes: eku.0,
            }))
    }

    pub fn key_usage(&self) -> Result<Option<KeyUsage>, der::Error> {
        Ok(self
            .cert
            .tbs_certificate()
            .get_extension::<KeyUsage>()?
            .map(|(_, ku)| ku))
    }

    pub fn subject_key_id(&self) -> Option<Vec<u8>> {
        let tbs = self.cert.tbs_certificate();
        let (_, ski) = tbs.get_extension::<SubjectKeyIdentifier>().ok()??;
        Some(ski.0.as_bytes().to_vec())
    }

    /// Whether `gn` names this certificate: a directoryName equal to the subject, or an
    /// entry of its subjectAltName.
    pub fn has_name(&self, gn: &GeneralName) -> bool {
        if let GeneralName::DirectoryName(n) = gn
            && n == self.subject()
        {
            return true;
        }
        let tbs = self.cert.tbs_certificate();
        matches!(tbs.get_extension::<SubjectAltName>(), Ok(Some((_, san))) if san.0.contains(gn))
    }
}

/// A Name for people; `?` for a value that is not a string.
pub fn name_to_string(name: &Name) -> String {
    let mut parts = Vec::new();
    {
        for atv in name.iter() {
            let label = match atv.oid {
                oid::AT_CN => "CN".to_owned(),
                oid::AT_O => "O".to_owned(),
                oid::AT_OU => "OU".to_owned(),
                oid::AT_C => "C".to_owned(),
                oid::AT_L => "L".to_owned(),
                oid::AT_ST => "ST".to_owned(),
                oid::AT_SERIAL => "serialNumber".to_owned(),
                other => other.to_string(),
            };
            let v = &atv.value;
            let text = match v.tag() {
                Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
                    String::from_utf8_lossy(v.value()).into_owned()
                }
                Tag::BmpString => char::decode_utf16(
                    v.value()
                        .chunks(2)
                        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])),
                )
                .map(|c| c.unwrap_or('\u{fffd}'))
                .collect(),
                _ => format!("#{}", crate::util::to_hex(&v.to_der().unwrap_or_default())),
            };
            parts.push(format!("{label}={text}"));
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsp::pem;
    use x509_cert::ext::pkix::KeyUsages;

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
        assert_eq!(name_to_string(tsa.issuer()), "CN=Local Test TSA Root");
        assert_eq!(tsa.issuer(), ca.subject());
        let ku = tsa.key_usage().expect("ku").expect("present");
        assert!(ku.digital_signature() && !ku.key_cert_sign());
        let ca_ku = ca.key_usage().expect("ku").expect("present");
        assert!(ca_ku.0.contains(KeyUsages::KeyCertSign));
        assert_eq!(
            tsa.ext_key_usage().expect("eku"),
            Some(ExtKeyUsage {
                critical: true,
                purposes: vec![oid::KP_TIME_STAMPING]
            })
        );
        assert_eq!(tsa.subject_key_id().map(|k| k.len()), Some(20));
        assert_eq!(tsa.not_before().to_string(), "2026-11-21T21:03:07Z");
        let dir_name = GeneralName::DirectoryName(tsa.subject().clone());
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
        let sha256_rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
        let pos = der.windows(9).position(|w| w == sha256_rsa).expect("alg");
        let mut swapped = der.clone();
        swapped[pos + 8] = 0x0c;
        assert!(Certificate::parse(&swapped).is_err());
    }
}
