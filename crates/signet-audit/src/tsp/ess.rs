//! The ESS signing-certificate binding of a CMS signer (RFC 5035 ESSCertIDv2, RFC 2634
//! ESSCertID), which ties the signature to one certificate so a token cannot be
//! re-attributed to another certificate with the same key.
//!
//! Guarantees: [`check`] requires at least one of signingCertificateV2 /
//! signingCertificate; for each present, the **first** ESSCertID(v2) must carry the
//! hash of the signer certificate's DER (v2: its hashAlgorithm, SHA-256 when omitted;
//! v1: SHA-1, computed with `ring`), and, when issuerSerial is given, the signer's
//! serial number and a directoryName equal to the signer's issuer. Later entries and
//! policies are not interpreted.

use super::TspError;
use super::crypto::{AlgId, Hash};
use super::der::{DerError, Reader, Tlv, tag};
use super::verify::unsupported;
use super::x509::Certificate;

/// Checks the signingCertificateV2 (`v2`) and signingCertificate (`v1`) attribute
/// values (each the SigningCertificate[V2] SEQUENCE) against `signer`.
pub fn check(
    v2: Option<Tlv<'_>>,
    v1: Option<Tlv<'_>>,
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
fn first_cert_id(value: Tlv<'_>, v2: bool, signer: &Certificate<'_>) -> Result<(), TspError> {
    let name = if v2 { "ESSCertIDv2" } else { "ESSCertID" };
    let m = |source| TspError::Malformed {
        part: "signing certificate attribute",
        source,
    };
    let bad = |why: &str| TspError::EssCertId(format!("{name} {why}"));
    if value.tag != tag::SEQUENCE {
        return Err(m(DerError::UnexpectedTag {
            expected: tag::SEQUENCE,
            found: value.tag,
            at: value.offset,
        }));
    }
    let mut certs = value
        .reader()
        .and_then(|mut sc| sc.nested(tag::SEQUENCE))
        .map_err(m)?;
    let mut id = certs.nested(tag::SEQUENCE).map_err(m)?;
    let hash = match (v2, id.peek_tag()) {
        (true, Some(tag::SEQUENCE)) => {
            Hash::from_alg(&AlgId::read(&mut id).map_err(m)?).map_err(unsupported)?
        }
        (true, _) => Hash::Sha256,
        (false, _) => Hash::Sha1,
    };
    let cert_hash = id.read(tag::OCTET_STRING).map_err(m)?.value;
    if hash.digest(signer.raw) != cert_hash {
        return Err(bad(
            "certificate hash does not match the signer certificate",
        ));
    }
    if let Some(is) = id.read_optional(tag::SEQUENCE).map_err(m)? {
        let mut is = is.reader().map_err(m)?;
        let mut names = is.nested(tag::SEQUENCE).map_err(m)?;
        let serial = is.read(tag::INTEGER).and_then(|s| s.integer()).map_err(m)?;
        is.finish().map_err(m)?;
        if serial != signer.serial {
            return Err(bad(
                "issuerSerial serial number does not match the signer certificate",
            ));
        }
        if !directory_names(&mut names)
            .map_err(m)?
            .contains(&signer.issuer)
        {
            return Err(bad(
                "issuerSerial issuer does not match the signer certificate",
            ));
        }
    }
    id.finish().map_err(m)
}

/// The directoryName entries of GeneralNames (each the Name's whole encoding).
fn directory_names<'a>(names: &mut Reader<'a>) -> Result<Vec<&'a [u8]>, DerError> {
    let mut out = Vec::new();
    while !names.is_empty() {
        let gn = names.read_any()?;
        if gn.tag == tag::ctx(4) {
            let mut inner = gn.reader()?;
            out.push(inner.read(tag::SEQUENCE)?.raw);
            inner.finish()?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsp::der::{parse_single, tlv};
    use crate::tsp::{oid, pem};

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
    fn attr(alg: Option<&[u8]>, hash: &[u8], issuer_serial: Option<Vec<u8>>) -> Vec<u8> {
        let mut id = alg
            .map(|a| tlv(tag::SEQUENCE, &tlv(tag::OID, a)))
            .unwrap_or_default();
        id.extend(tlv(tag::OCTET_STRING, hash));
        id.extend(issuer_serial.unwrap_or_default());
        tlv(tag::SEQUENCE, &tlv(tag::SEQUENCE, &tlv(tag::SEQUENCE, &id)))
    }

    fn issuer_serial(issuer: &[u8], serial: &[u8]) -> Vec<u8> {
        let names = tlv(tag::SEQUENCE, &tlv(tag::ctx(4), issuer));
        tlv(tag::SEQUENCE, &[names, tlv(tag::INTEGER, serial)].concat())
    }

    fn tlv_of(b: Option<&[u8]>) -> Option<Tlv<'_>> {
        b.map(|b| parse_single(b, tag::SEQUENCE).expect("tlv"))
    }

    fn run(v2: Option<&[u8]>, v1: Option<&[u8]>, cert: &Certificate<'_>) -> Result<(), String> {
        check(tlv_of(v2), tlv_of(v1), cert).map_err(|e| e.to_string())
    }

    #[test]
    fn binds_the_signer_certificate() {
        let der = tsa_cert();
        let cert = Certificate::parse(&der).expect("cert");
        let sha256 = Hash::Sha256.digest(&der);
        let good_is = issuer_serial(cert.issuer, cert.serial);
        assert_eq!(run(Some(&attr(None, &sha256, None)), None, &cert), Ok(()));
        assert_eq!(
            run(
                Some(&attr(None, &sha256, Some(good_is.clone()))),
                None,
                &cert
            ),
            Ok(())
        );
        let sha384 = attr(Some(oid::SHA384), &Hash::Sha384.digest(&der), None);
        assert_eq!(run(Some(&sha384), None, &cert), Ok(()));
        let v1 = attr(None, &Hash::Sha1.digest(&der), Some(good_is));
        assert_eq!(run(None, Some(&v1), &cert), Ok(()));
        assert_eq!(
            run(Some(&attr(None, &sha256, None)), Some(&v1), &cert),
            Ok(())
        );
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
        fails(
            None,
            Some(&attr(None, &sha256, None)),
            "ESSCertID certificate hash",
        );
        let wrong_serial = issuer_serial(cert.issuer, &[0x01]);
        fails(
            Some(&attr(None, &sha256, Some(wrong_serial))),
            None,
            "serial",
        );
        let wrong_issuer = issuer_serial(cert.subject, cert.serial);
        fails(
            Some(&attr(None, &sha256, Some(wrong_issuer))),
            None,
            "issuer",
        );
        let sha1_alg = attr(Some(oid::SHA1), &Hash::Sha1.digest(&der), None);
        assert!(run(Some(&sha1_alg), None, &cert).is_err_and(|e| e.starts_with("unsupported")));
    }
}
