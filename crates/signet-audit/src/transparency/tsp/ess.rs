//! The ESS signing-certificate binding of a CMS signer (RFC 5035 ESSCertIDv2, RFC 2634
//! ESSCertID), which ties the signature to one certificate so a token cannot be
//! re-attributed to another certificate with the same key.
//!
//! Guarantees: [`check`] requires at least one of signingCertificateV2 /
//! signingCertificate; for each present, the **first** ESSCertID(v2) must carry the
//! hash of the signer certificate's DER (v2: its hashAlgorithm, SHA-256 when omitted;
//! v1: SHA-1, computed with `ring`), and, when issuerSerial is given, the signer's
//! serial number and a directoryName equal to the signer's issuer. Later entries and
//! policies are not interpreted. The attribute values are decoded with `der`.

use der::Sequence;
use der::asn1::{AnyRef, OctetStringRef};
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::TspError;
use super::crypto::Hash;
use super::tst_info::IntBytes;
use super::verify::unsupported;
use super::x509::Certificate;

/// IssuerSerial (RFC 5035).
#[derive(Sequence)]
struct IssuerSerial<'a> {
    issuer: GeneralNames,
    serial: IntBytes<'a>,
}

/// ESSCertIDv2, or ESSCertID when `alg` is absent and the hash is SHA-1.
#[derive(Sequence)]
struct CertIdV2<'a> {
    #[asn1(optional = "true")]
    alg: Option<AlgorithmIdentifierOwned>,
    hash: &'a OctetStringRef,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial<'a>>,
}

#[derive(Sequence)]
struct CertIdV1<'a> {
    hash: &'a OctetStringRef,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial<'a>>,
}

/// SigningCertificate(V2): the certificate IDs, then policies (not interpreted).
#[derive(Sequence)]
struct SigningCertificate<'a> {
    certs: Vec<AnyRef<'a>>,
    #[asn1(optional = "true")]
    policies: Option<AnyRef<'a>>,
}

/// Checks the signingCertificateV2 (`v2`) and signingCertificate (`v1`) attribute
/// values (each the SigningCertificate[V2] SEQUENCE) against `signer`.
pub fn check(
    v2: Option<AnyRef<'_>>,
    v1: Option<AnyRef<'_>>,
    signer: &Certificate<'_>,
) -> Result<(), TspError> {
    if v2.is_none() && v1.is_none() {
        return Err(TspError::EssCertId(
            "no signingCertificate or signingCertificateV2 attribute".into(),
        ));
    }
    for (value, is_v2) in [(v2, true), (v1, false)] {
        if let Some(value) = value {
            first_cert_id(value, is_v2, signer)?;
        }
    }
    Ok(())
}

/// Checks the first ESSCertID(v2) of a SigningCertificate(V2) against `signer`.
fn first_cert_id(value: AnyRef<'_>, v2: bool, signer: &Certificate<'_>) -> Result<(), TspError> {
    let name = if v2 { "ESSCertIDv2" } else { "ESSCertID" };
    let m = |source| TspError::Malformed {
        part: "signing certificate attribute",
        source,
    };
    let bad = |why: &str| TspError::EssCertId(format!("{name} {why}"));
    let sc: SigningCertificate<'_> = value.decode_as().map_err(m)?;
    let first = sc
        .certs
        .first()
        .ok_or_else(|| bad("list is empty"))?
        .to_owned();
    let (hash, cert_hash, issuer_serial) = if v2 {
        let id: CertIdV2<'_> = first.decode_as().map_err(m)?;
        let hash = match &id.alg {
            Some(alg) => Hash::from_alg(alg).map_err(unsupported)?,
            None => Hash::Sha256,
        };
        (hash, id.hash, id.issuer_serial)
    } else {
        let id: CertIdV1<'_> = first.decode_as().map_err(m)?;
        (Hash::Sha1, id.hash, id.issuer_serial)
    };
    if hash.digest(signer.raw) != cert_hash.as_bytes() {
        return Err(bad(
            "certificate hash does not match the signer certificate",
        ));
    }
    if let Some(is) = issuer_serial {
        if is.serial.0 != signer.serial() {
            return Err(bad(
                "issuerSerial serial number does not match the signer certificate",
            ));
        }
        let names_issuer = is
            .issuer
            .iter()
            .any(|gn| matches!(gn, GeneralName::DirectoryName(n) if n == signer.issuer()));
        if !names_issuer {
            return Err(bad(
                "issuerSerial issuer does not match the signer certificate",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsp::{oid, pem};
    use der::{Decode, Encode};

    fn tsa_cert() -> Vec<u8> {
        let path = format!(
            "{}/../../tests/fixtures/signet-0.1/tsa.crt",
            env!("CARGO_MANIFEST_DIR")
        );
        pem::certificates(&std::fs::read(path).expect("fixture"))
            .expect("pem")
            .remove(0)
    }

    /// SigningCertificate[V2] { certs { ESSCertID(v2) { alg?, hash, issuerSerial? } } }.
    fn attr(alg: Option<der::asn1::ObjectIdentifier>, hash: &[u8], is: Option<Vec<u8>>) -> Vec<u8> {
        let mut id = alg
            .map(|oid| {
                AlgorithmIdentifierOwned {
                    oid,
                    parameters: None,
                }
                .to_der()
                .expect("alg")
            })
            .unwrap_or_default();
        id.extend(
            OctetStringRef::new(hash)
                .expect("os")
                .to_der()
                .expect("hash"),
        );
        id.extend(is.unwrap_or_default());
        let seq = |c: &[u8]| {
            der::asn1::AnyRef::new(der::Tag::Sequence, c)
                .expect("seq")
                .to_der()
                .expect("der")
        };
        seq(&seq(&seq(&id)))
    }

    fn issuer_serial(issuer: &x509_cert::name::Name, serial: &[u8]) -> Vec<u8> {
        IssuerSerial {
            issuer: vec![GeneralName::DirectoryName(issuer.clone())],
            serial: IntBytes(serial),
        }
        .to_der()
        .expect("issuer serial")
    }

    fn run(v2: Option<&[u8]>, v1: Option<&[u8]>, cert: &Certificate<'_>) -> Result<(), String> {
        fn any(b: Option<&[u8]>) -> Option<AnyRef<'_>> {
            b.map(|b| AnyRef::from_der(b).expect("any"))
        }
        check(any(v2), any(v1), cert).map_err(|e| e.to_string())
    }

    #[test]
    fn binds_the_signer_certificate() {
        let der = tsa_cert();
        let cert = Certificate::parse(&der).expect("cert");
        let sha256 = Hash::Sha256.digest(&der);
        let good_is = issuer_serial(cert.issuer(), cert.serial());
        assert_eq!(run(Some(&attr(None, &sha256, None)), None, &cert), Ok(()));
        let with_is = attr(None, &sha256, Some(good_is.clone()));
        assert_eq!(run(Some(&with_is), None, &cert), Ok(()));
        let sha384 = attr(Some(oid::SHA384), &Hash::Sha384.digest(&der), None);
        assert_eq!(run(Some(&sha384), None, &cert), Ok(()));
        let v1 = attr(None, &Hash::Sha1.digest(&der), Some(good_is));
        assert_eq!(run(None, Some(&v1), &cert), Ok(()));
        let v2 = attr(None, &sha256, None);
        assert_eq!(run(Some(&v2), Some(&v1), &cert), Ok(()));
    }

    #[test]
    fn refuses_anything_else() {
        let der = tsa_cert();
        let cert = Certificate::parse(&der).expect("cert");
        let sha256 = Hash::Sha256.digest(&der);
        let fails = |v2: Option<&[u8]>, v1: Option<&[u8]>, what: &str| {
            let e = run(v2, v1, &cert).expect_err(what);
            assert!(e.starts_with("ess_cert_id:") && e.contains(what), "{e}");
        };
        fails(None, None, "no signingCertificate");
        fails(
            Some(&attr(None, &[0; 32], None)),
            None,
            "hash does not match",
        );
        let sha1_as_v2 = attr(None, &Hash::Sha1.digest(&der), None);
        fails(Some(&sha1_as_v2), None, "hash does not match");
        let v1_sha256 = attr(None, &sha256, None);
        fails(None, Some(&v1_sha256), "ESSCertID certificate hash");
        let wrong_serial = issuer_serial(cert.issuer(), &[0x01]);
        fails(
            Some(&attr(None, &sha256, Some(wrong_serial))),
            None,
            "serial",
        );
        let wrong_issuer = issuer_serial(cert.subject(), cert.serial());
        fails(
            Some(&attr(None, &sha256, Some(wrong_issuer))),
            None,
            "issuer",
        );
        let sha1_alg = attr(Some(oid::SHA1), &Hash::Sha1.digest(&der), None);
        assert!(run(Some(&sha1_alg), None, &cert).is_err_and(|e| e.starts_with("unsupported")));
    }
}
